"""Two batch workers in one group share a stream; one is SIGKILLed mid-stream and a third joins.

Afterwards the distinct facts on the events topic are the backtest's, the alerts the messages
raised are the backtest's, and the projection (by a projector process) is a clean single-worker
run's: nothing missing, nothing doubled.
"""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import run_backtest
from processors.tools.simulate import SimulationSettings, simulate
from tests.integration.support import (
    WorkerProcess,
    await_progress,
    committed_input,
    comparable_snapshot,
    isolated,
    partitions_shared,
    projected_all,
    read_all,
    wait_for,
)

MESSAGES = 3000
END = datetime.now(timezone.utc) - timedelta(days=150)  # no deadline depends on when the test runs
BATCH = {"DEALFLOW_RUNTIME": "batch", "DEALFLOW_SESSION_TIMEOUT": "6"}


def _messages() -> list[dict[str, Any]]:
    return simulate(SimulationSettings(deals=80, days=120, seed=21), default_playbook(), END)[:MESSAGES]


def _projection(settings: Settings, log: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The tables a projector process builds from the output topics (support.RESOLUTION_MOMENTS left out)."""
    projector = WorkerProcess(settings, log, "--only", "projector")
    try:
        wait_for(lambda: projected_all(settings), timeout=60, what="the projector caught up", worker=projector)
    finally:
        projector.stop()
    return comparable_snapshot(settings.database_url)


@pytest.fixture(scope="module")
def clean(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The projection of one uninterrupted batch worker over the stream."""
    log_dir = tmp_path_factory.mktemp("clean")
    with isolated(base_settings) as settings:
        produce(settings.kafka_bootstrap, settings.topics, _messages(), first_timestamp_ms=int(time.time() * 1000))
        worker = WorkerProcess(settings, log_dir / "worker.log", "--only", "processors", extra_env=BATCH)
        try:
            wait_for(lambda: committed_input(settings) >= MESSAGES, timeout=60, what="all input committed",
                     worker=worker)
        finally:
            worker.stop()
        yield _projection(settings, log_dir / "projector.log")


def test_a_worker_killed_while_two_share_the_stream_and_a_third_joining_change_nothing(
        base_settings: Settings, clean: dict[str, Any], tmp_path: Path) -> None:
    messages = _messages()
    expected: list[tuple[str, dict[str, Any]]] = []
    run_backtest([json.dumps(m) for m in messages], default_playbook(), io.BytesIO(), None, errors=io.StringIO(),
                 sink=lambda kind, payload: expected.append((kind, payload)))
    with isolated(base_settings) as settings:
        pair = [WorkerProcess(settings, tmp_path / f"worker-{n}.log", "--only", "processors", extra_env=BATCH)
                for n in range(2)]
        third: WorkerProcess | None = None
        try:
            wait_for(lambda: partitions_shared(pair, settings.partitions), timeout=60, what="two workers sharing",
                     worker=pair[1])
            # Produced as things happen, each message acknowledged before the next: a worker at the end of
            # its inputs cannot know that a record is on its way to one topic while the other's is in
            # (processors/runtime/merge.py), so a burst of a deal's messages on both topics at once could be
            # merged in another order than the backtest's.
            producing = threading.Thread(target=produce, args=(settings.kafka_bootstrap, settings.topics, messages),
                                         kwargs={"delay": 0.0005, "first_timestamp_ms": int(time.time() * 1000)})
            producing.start()
            await_progress(pair[0], lambda: committed_input(settings) > MESSAGES // 5)
            pair[0].stop(signal.SIGKILL)
            at_kill = committed_input(settings)
            third = WorkerProcess(settings, tmp_path / "worker-2.log", "--only", "processors", extra_env=BATCH)
            survivors = [pair[1], third]
            wait_for(lambda: partitions_shared(survivors, settings.partitions), timeout=60,
                     what="the survivor and the third worker sharing", worker=third)
            producing.join()
            wait_for(lambda: committed_input(settings) >= MESSAGES, timeout=60, what="all input committed",
                     worker=third)
        finally:
            for worker in (*pair, *([third] if third else [])):
                worker.stop()
        facts = {f["event_id"]: f for f in read_all(settings.kafka_bootstrap, settings.topics.events)}
        alerts = [a for a in read_all(settings.kafka_bootstrap, settings.topics.alerts) if a["caused_by"]]
        projection = _projection(settings, tmp_path / "projector.log")
    assert at_kill < MESSAGES, "the stream ended before the kill: make it longer"
    expected_facts = {p["event_id"]: p for kind, p in expected if kind == "fact"}
    missing, extra = expected_facts.keys() - facts.keys(), facts.keys() - expected_facts.keys()
    changed = [k for k in expected_facts.keys() & facts.keys() if expected_facts[k] != facts[k]]
    assert not (missing or extra or changed), (len(missing), len(extra), len(changed))
    assert {(a["alert_id"], a["status"]) for a in alerts} == {
        (p["alert_id"], p["status"]) for kind, p in expected if kind == "alert" and p["caused_by"]}
    for table, rows in clean.items():
        assert projection[table] == rows, f"{table} differs from the clean run's"
