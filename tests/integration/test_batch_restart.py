"""The batch worker killed (SIGKILL) mid-stream resumes from its changelog: the distinct facts, and
the alerts the messages raise, are those of the backtest, and the stored offsets cover the input.

A smaller sibling of test_faults.py's kill loop (which restarts shared services and is run apart).
"""

from __future__ import annotations

import io
import json
import random
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import run_backtest
from processors.tools.simulate import SimulationSettings, simulate
from tests.integration.support import WorkerProcess, await_progress, committed_input, isolated, read_all, wait_for

MESSAGES = 8000
KILLS = 4
END = datetime.now(timezone.utc) - timedelta(days=150)


def _messages() -> list[dict[str, Any]]:
    return simulate(SimulationSettings(deals=160, days=120, seed=9), default_playbook(), END)[:MESSAGES]


def test_a_killed_batch_worker_resumes_from_its_changelog(base_settings: Settings, tmp_path: Path) -> None:
    messages = _messages()
    expected: list[tuple[str, dict[str, Any]]] = []
    run_backtest([json.dumps(m) for m in messages], default_playbook(), io.BytesIO(), None, errors=io.StringIO(),
                 sink=lambda kind, payload: expected.append((kind, payload)))
    expected_facts = {p["event_id"]: p for kind, p in expected if kind == "fact"}
    expected_alerts = {(p["alert_id"], p["status"]) for kind, p in expected if kind == "alert" and p["caused_by"]}
    rng = random.Random(3)
    with isolated(base_settings) as settings:
        produce(settings.kafka_bootstrap, settings.topics, messages, first_timestamp_ms=int(time.time() * 1000))
        watch = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
        outputs = [TopicPartition(settings.topics.events, p) for p in range(settings.partitions)]
        produced = lambda: sum(watch.end_offsets(outputs).values())  # noqa: E731
        kills = 0
        while kills < KILLS and committed_input(settings) < MESSAGES:
            worker = WorkerProcess(settings, tmp_path / f"crash-{kills}.log", "--only", "processors",
                                   extra_env={"DEALFLOW_RUNTIME": "batch"})
            before = produced()
            await_progress(worker, lambda start=before: produced() > start)
            time.sleep(rng.uniform(0.0, 0.2))
            worker.stop(signal.SIGKILL)
            kills += 1
        assert kills == KILLS, "the stream ended before every kill: make it longer"
        final = WorkerProcess(settings, tmp_path / "final.log", "--only", "processors",
                              extra_env={"DEALFLOW_RUNTIME": "batch"})
        try:
            wait_for(lambda: committed_input(settings) >= MESSAGES, timeout=300, what="all input committed",
                     worker=final)
            restored = [line for line in final.output().splitlines() if "assigned partitions" in line]
        finally:
            final.stop()
        watch.close()
        facts = {f["event_id"]: f for f in read_all(settings.kafka_bootstrap, settings.topics.events)}
        alerts = {(a["alert_id"], a["status"]) for a in read_all(settings.kafka_bootstrap, settings.topics.alerts)
                  if a["caused_by"]}
    assert restored and " 0 deals in state" not in restored[0], restored
    missing = expected_facts.keys() - facts.keys()
    extra = facts.keys() - expected_facts.keys()
    changed = [k for k in expected_facts.keys() & facts.keys() if expected_facts[k] != facts[k]]
    assert not (missing or extra or changed), (len(missing), len(extra), len(changed),
                                               [facts[k] for k in list(extra)[:2]])
    assert alerts == expected_alerts
