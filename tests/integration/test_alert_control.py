"""Issue 16 end to end on the real broker and database: team thresholds, acknowledge, snooze, the digest.

The playbook's thresholds are seconds instead of days, so the live worker's timer raises,
escalates and brings back alerts while the test watches.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, load_playbook
from tests.builders import create_message, message
from tests.integration.support import REPO_ROOT, TopicReader, WorkerProcess, isolated, settings_env, wait_for

DISCOVERY_DAYS = 0.00005  # 4.32 s: stalled at 6.48 s (1.5x), critical at 8.64 s (2x)
TEAM_MEMBER, OTHER = "rep-team", "rep-solo"


@pytest.fixture()
def team_playbook(tmp_path: Path) -> Path:
    """Seconds for thresholds; the team "enterprise" (member rep-team) waits a day before calling a deal inactive."""
    text = DEFAULT_PLAYBOOK_PATH.read_text()
    text = text.replace("benchmark_days = 7\n", f"benchmark_days = {DISCOVERY_DAYS}\n", 1)
    text = text.replace("inactive_days = 7 ", "inactive_days = 0.00004 ", 1)  # 3.456 s
    text += (f'\n[[teams]]\nname = "enterprise"\nmanager = "mgr-eve"\nmembers = ["{TEAM_MEMBER}"]\n'
             "[teams.detectors]\ninactive_days = 1\n")
    path = tmp_path / "team.toml"
    path.write_text(text)
    assert load_playbook(path).for_team("enterprise").detectors.inactive_days == 1
    return path


@pytest.fixture()
def live(base_settings: Settings, team_playbook: Path, tmp_path: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    with isolated(base_settings, playbook=str(team_playbook), tick_seconds=1.0) as settings:
        worker = WorkerProcess(settings, tmp_path / "worker.log")  # processors and projector
        try:
            yield settings, worker
        finally:
            worker.stop()


def _command(type_: str, deal_id: str, **fields: Any) -> dict[str, Any]:
    return message(type_, deal_id=deal_id, event_id=f"{type_}-{uuid.uuid4().hex[:8]}",
                   when=datetime.now(timezone.utc), **fields)


def _records(alerts: TopicReader, seen: list[dict[str, Any]], deal_id: str) -> list[dict[str, Any]]:
    """Every alert record of ``deal_id`` so far, in topic order (``seen`` is kept up to date)."""
    seen[:] = [a for a in alerts.poll() if a["deal_id"] == deal_id]
    return seen


def _row(url: str, alert_id: str) -> dict[str, Any] | None:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT status, severity, team, acknowledged_by, snoozed_until, revision "
                           "FROM alerts WHERE alert_id = %s", (alert_id,))
        row = cur.fetchone()
        return dict(zip(("status", "severity", "team", "acknowledged_by", "snoozed_until", "revision"), row,
                        strict=True)) if row else None


def test_team_thresholds_acknowledge_snooze_and_digest_end_to_end(live: tuple[Settings, WorkerProcess]) -> None:
    settings, worker = live
    alerts = TopicReader(settings.kafka_bootstrap, settings.topics.alerts)
    member, other = f"team-{uuid.uuid4().hex[:6]}", f"solo-{uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    produce(settings.kafka_bootstrap, settings.topics, [
        create_message(deal_id=member, owner_id=TEAM_MEMBER, when=now, close_date="2027-12-31"),
        create_message(deal_id=other, owner_id=OTHER, when=now, close_date="2027-12-31")])
    mine: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    try:
        # The team's thresholds: the member's deal stalls like the other's but is not inactive after seconds.
        wait_for(lambda: [a for a in _records(alerts, theirs, other) if a["type"] == "deal.inactive"],
                 timeout=60, what="the other deal's inactivity", worker=worker)
        [warning] = wait_for(lambda: [a for a in _records(alerts, mine, member) if a["type"] == "deal.stalled"],
                             timeout=60, what="the member's stall warning", worker=worker)
        assert (warning["severity"], warning["team"], warning["notify"]) == ("warning", "enterprise", True)
        assert not [a for a in mine if a["type"] == "deal.inactive"]
        assert all(a["team"] is None for a in theirs)

        # Acknowledged: the escalation to critical that follows notifies nobody.
        produce(settings.kafka_bootstrap, settings.topics,
                [_command("alert.acknowledge", member, alert_id=warning["alert_id"], acknowledged_by="mgr-eve")])
        critical = wait_for(lambda: [a for a in _records(alerts, mine, member)
                                     if a["alert_id"] == warning["alert_id"] and a["severity"] == "critical"],
                            timeout=60, what="the escalation", worker=worker)[0]
        assert (critical["status"], critical["acknowledged_by"], critical["notify"]) == ("updated", "mgr-eve", False)

        # Snoozed for a few seconds: it comes back, as the same alert, notifying again.
        until = datetime.now(timezone.utc) + timedelta(seconds=3)
        produce(settings.kafka_bootstrap, settings.topics,
                [_command("alert.snooze", member, alert_id=warning["alert_id"], until=until.isoformat(),
                          snoozed_by="rep-team")])
        back = wait_for(lambda: [a for a in _records(alerts, mine, member) if a["alert_id"] == warning["alert_id"]
                                 and a["status"] == "updated" and a["snoozed_until"] is None and a["notify"]],
                        timeout=60, what="the snoozed alert to come back", worker=worker)[0]
        assert datetime.fromisoformat(back["updated_at"]) >= until
        revisions = [a["revision"] for a in mine if a["alert_id"] == warning["alert_id"]]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)

        # The projection holds the newest record, and the team's digest tells the story.
        wait_for(lambda: (_row(settings.database_url, warning["alert_id"]) or {}).get("revision") == back["revision"],
                 timeout=60, what="the projection to catch up", worker=worker)
        row = _row(settings.database_url, warning["alert_id"])
        assert row is not None and (row["severity"], row["team"], row["acknowledged_by"], row["snoozed_until"]) == (
            "critical", "enterprise", "mgr-eve", None)
        digest = subprocess.run([sys.executable, "-m", "processors.cli", "digest", "--team", "enterprise", "--json"],
                                cwd=REPO_ROOT, env=settings_env(settings), capture_output=True, text=True,
                                check=True)
        report = json.loads(digest.stdout)
        assert member in json.dumps(report) and other not in json.dumps(report)
        needs_action = [entry for deal in _deals(report) if deal.get("deal_id") == member
                        for entry in deal.get("needs_action", [])]
        assert [(e["alert_id"], e["severity"], e["acknowledged_by"]) for e in needs_action
                if e["type"] == "deal.stalled"] == [(warning["alert_id"], "critical", "mgr-eve")]
        with psycopg.connect(settings.database_url) as conn:
            actions = conn.execute("SELECT action, actor FROM alert_actions WHERE alert_id = %s ORDER BY acted_at",
                                   (warning["alert_id"],)).fetchall()
        assert actions == [("acknowledged", "mgr-eve"), ("snoozed", "rep-team")]
    finally:
        alerts.close()


def _deals(report: Any) -> list[dict[str, Any]]:
    """The per-deal entries of a digest's JSON (a list, or under ``deals``)."""
    return report if isinstance(report, list) else list(report.get("deals", []))
