"""Time-based alerts fire from the live worker's timer, and agree with `dealflow backtest`."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, load_playbook
from processors.replay.backtest import load_json_lines, run_backtest
from tests.builders import create_message
from tests.integration.support import TopicReader, WorkerProcess, isolated, wait_for

DISCOVERY_DAYS = 0.00005  # 4.32 s: stalled at 6.48 s (1.5x) and 8.64 s (2x)
INACTIVE_DAYS = 0.00004  # 3.456 s


@pytest.fixture()
def fast_playbook(tmp_path: Path) -> Path:
    """The default playbook with thresholds of seconds instead of days."""
    text = DEFAULT_PLAYBOOK_PATH.read_text()
    text = text.replace("benchmark_days = 7\n", f"benchmark_days = {DISCOVERY_DAYS}\n", 1)
    text = text.replace("inactive_days = 7 ", f"inactive_days = {INACTIVE_DAYS} ", 1)
    path = tmp_path / "fast.toml"
    path.write_text(text)
    assert load_playbook(path).detectors.inactive_days == INACTIVE_DAYS
    return path


@pytest.fixture()
def fast_worker(base_settings: Settings, fast_playbook: Path,
                tmp_path: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    with isolated(base_settings, playbook=str(fast_playbook), tick_seconds=1.0) as settings:
        worker = WorkerProcess(settings, tmp_path / "fast-worker.log", "--only", "processors")
        try:
            yield settings, worker
        finally:
            worker.stop()


def _create(deal_id: str, at: datetime) -> dict[str, Any]:
    """A deal created at ``at`` whose close date stays ahead, so only the timer's alerts can fire."""
    return create_message(deal_id=deal_id, when=at, close_date="2027-12-31")


def test_time_based_alerts_fire_from_the_timer_and_match_the_backtest(
        fast_worker: tuple[Settings, WorkerProcess]) -> None:
    settings, worker = fast_worker
    events = TopicReader(settings.kafka_bootstrap, settings.topics.events)
    alerts = TopicReader(settings.kafka_bootstrap, settings.topics.alerts)
    try:
        produce(settings.kafka_bootstrap, settings.topics, [_create("probe", datetime.now(timezone.utc))])
        wait_for(lambda: events.poll(), what="the worker to start", worker=worker)  # ready: facts flow

        deal_id = f"timer-{uuid.uuid4().hex[:6]}"
        created_at = datetime.now(timezone.utc)
        message = _create(deal_id, created_at)
        produce(settings.kafka_bootstrap, settings.topics, [message])

        def timer_alerts() -> list[dict[str, Any]]:
            found = [a for a in alerts.poll() if a["deal_id"] == deal_id]
            return found if len(found) >= 3 else []

        live = wait_for(timer_alerts, timeout=60, what="three time-based alerts", worker=worker)
        observed_at = datetime.now(timezone.utc)
        expected = {("deal.inactive", "warning", INACTIVE_DAYS),
                    ("deal.stalled", "warning", 1.5 * DISCOVERY_DAYS),
                    ("deal.stalled", "critical", 2 * DISCOVERY_DAYS)}
        got = {(a["type"], a["severity"]) for a in live}
        assert got == {(t, s) for t, s, _ in expected}
        for alert_type, severity, days in expected:
            [alert] = [a for a in live if (a["type"], a["severity"]) == (alert_type, severity)]
            changed_at = datetime.fromisoformat(alert["updated_at"])  # the raise, or the escalation
            assert abs(changed_at - (created_at + timedelta(days=days))) < timedelta(milliseconds=1)
            assert alert["caused_by"] is None and alert["kind"] == "condition"
        stalls = [a for a in live if a["type"] == "deal.stalled"]
        assert [(a["status"], a["revision"]) for a in stalls] == [("raised", 0), ("updated", 1)]
        assert len({a["alert_id"] for a in stalls}) == 1  # the warning escalated in place

        replay = io.BytesIO()
        run_backtest([json.dumps(message)], load_playbook(settings.playbook), replay, None, as_of=observed_at,
                     errors=io.StringIO())
        key = lambda a: (a["alert_id"], a["revision"])  # noqa: E731
        assert {key(a): a for a in load_json_lines(replay.getvalue())} == {key(a): a for a in live}
    finally:
        events.close()
        alerts.close()
