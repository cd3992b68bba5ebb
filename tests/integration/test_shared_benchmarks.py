"""Learned benchmarks are shared through the stays topic: one batch worker and two give the same alerts.

The stays topic is seeded with stays recorded yesterday (1 day in discovery), so the benchmark in
force today is 1 day instead of the configured 7. The same stream then goes through one worker and,
in fresh topics and database, through two workers in one group: the alerts are the same, and they
are those of the learned benchmark (so a worker that ignored the shared stays would be caught). The
stream first completes stays today (40 days in discovery); counted at once, they would move the
benchmark for the deals that come after them.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, load_playbook
from processors.runtime.stays import FOLLOW_SECONDS
from schemas.stays import StayCompleted
from tests.builders import DISCOVERY, change_message, create_message, evidence_message, next_step_message
from tests.integration.support import WorkerProcess, committed_input, isolated, partitions_shared, read_all, wait_for

NOW = datetime.now(timezone.utc)
SEEDED = 5


@pytest.fixture()
def learning_playbook(tmp_path: Path) -> Path:
    """The default playbook with discovery's benchmark learned from at least 3 of the last 5 stays."""
    text = DEFAULT_PLAYBOOK_PATH.read_text()
    text = text.replace("benchmark_days = 7\n", 'benchmark_days = 7\nbenchmark = "learned"\n', 1)
    path = tmp_path / "learning.toml"
    path.write_text(text + "\n[learning]\nwindow_stays = 5\nmin_stays = 3\n")
    playbook = load_playbook(path)
    assert playbook.stages[0].benchmark == "learned" and playbook.learning.min_stays == 3
    return path


def _messages() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Deals that leave discovery today after 40 days; deals in discovery for 2 days."""
    close, due = (NOW + timedelta(days=90)).date().isoformat(), (NOW + timedelta(days=30)).date().isoformat()
    step = {"description": "Call", "due_date": due}
    messages: list[dict[str, Any]] = []
    for n in range(12):
        deal, entered = f"old-{n}", NOW - timedelta(days=40, hours=n)
        messages += [create_message(deal_id=deal, when=entered, close_date=close),
                     *(evidence_message(c, deal_id=deal, when=entered) for c in DISCOVERY),
                     next_step_message(deal_id=deal, when=entered, next_step=step),
                     change_message("qualification", deal_id=deal, when=NOW - timedelta(hours=1))]
    return messages, [create_message(deal_id=f"new-{n}", when=NOW - timedelta(days=2, hours=1 + n), close_date=close)
                      for n in range(30)]


def _seed_stays(settings: Settings) -> None:
    """Stays of 1 day in discovery, recorded yesterday (the records' timestamps)."""
    yesterday = datetime.combine(NOW.date(), datetime.min.time(), timezone.utc) - timedelta(hours=1)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for n in range(SEEDED):
        stay = StayCompleted(event_id=f"seed-{n}", deal_id=f"seed-{n}", stage="discovery", days_in_stage=1.0,
                             occurred_at=yesterday)
        producer.send(settings.topics.stays, key=stay.event_id.encode(), value=stay.model_dump_json().encode(),
                      timestamp_ms=int(yesterday.timestamp() * 1000) + n)
    producer.flush()
    producer.close()


def _alerts(base: Settings, playbook: Path, tmp_path: Path, workers: int) -> set[tuple[Any, ...]]:
    """The alerts of the stream through ``workers`` batch workers in one group (resolved_at left
    out: it is the moment a worker saw the condition end)."""
    leaving, staying = _messages()
    with isolated(base, playbook=str(playbook)) as settings:
        _seed_stays(settings)
        running = [WorkerProcess(settings, tmp_path / f"{workers}-{n}.log", "--only", "processors",
                                 extra_env={"DEALFLOW_RUNTIME": "batch"}) for n in range(workers)]
        try:
            wait_for(lambda: partitions_shared(running, settings.partitions), timeout=60, what="the partitions shared",
                     worker=running[-1])
            first = int(time.time() * 1000)
            for part, messages in enumerate((leaving, staying)):
                # The second part comes once the workers have read the stays the first one completed.
                time.sleep(2 * FOLLOW_SECONDS * part)
                produce(settings.kafka_bootstrap, settings.topics, messages, first_timestamp_ms=first + 1000 * part)
                expected = len(leaving) + part * len(staying)
                wait_for(lambda n=expected: committed_input(settings) >= n, timeout=60,  # type: ignore[misc]
                         what="the input committed", worker=running[0])
        finally:
            for worker in running:
                worker.stop()
        # Outputs are acknowledged before the input is committed: every alert is on the topic.
        alerts = read_all(settings.kafka_bootstrap, settings.topics.alerts)
    return {(a["alert_id"], a["status"], a["type"], a["deal_id"], a["raised_at"], json.dumps(a["details"]))
            for a in alerts}


def test_one_worker_and_two_workers_give_the_same_alerts(base_settings: Settings, learning_playbook: Path,
                                                         tmp_path: Path) -> None:
    one = _alerts(base_settings, learning_playbook, tmp_path, 1)
    two = _alerts(base_settings, learning_playbook, tmp_path, 2)
    assert one == two
    stalled = {(deal, json.loads(details)["benchmark_days"]) for _, status, kind, deal, _, details in one
               if kind == "deal.stalled" and status == "raised"}
    # Every deal is judged by the benchmark learned from yesterday's stays (1 day), none by the
    # configured 7 days, nor by today's 40-day stays.
    assert stalled == {(f"{prefix}-{n}", 1) for prefix, count in (("old", 12), ("new", 30)) for n in range(count)}
