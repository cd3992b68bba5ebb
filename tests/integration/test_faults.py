"""Fault tests on the real broker: worker crashes, duplicated and reordered delivery.

Reduced form for the suite: 2,000 simulated messages and ten SIGKILLs. The input ends
150 days ago, so every time-based deadline lies in the past for any run: a crashed run and a
clean one must agree exactly. The full form (100,000 messages) is `DEALFLOW_FAULT_MESSAGES=100000
python3 -m pytest tests/integration/test_faults.py`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import default_playbook
from processors.stack.common import Deadline
from processors.stack.kafka_broker import KafkaPaths, managed_pid, start_kafka, stop_kafka, wait_for_kafka
from processors.stack.postgres_server import PgPaths, ensure_postgres, running_server, stop_postgres
from processors.tools.simulate import SimulationSettings, simulate
from tests.helpers import unavailable
from tests.integration.support import (
    REPO_ROOT,
    WorkerProcess,
    await_progress,
    committed_input,
    comparable_snapshot,
    isolated,
    read_all,
    settings_env,
    wait_for,
)

MESSAGES = int(os.environ.get("DEALFLOW_FAULT_MESSAGES", "2000"))
KILLS = 10
END = datetime.now(timezone.utc) - timedelta(days=150)


FIRST_TIMESTAMP_MS = int(time.time() * 1000)  # every run produces the same records, timestamps included


def _produce(settings: Settings, messages: list[dict[str, Any]]) -> None:
    produce(settings.kafka_bootstrap, settings.topics, messages, first_timestamp_ms=FIRST_TIMESTAMP_MS)


def _messages() -> list[dict[str, Any]]:
    stream = simulate(SimulationSettings(deals=max(20, MESSAGES // 50), days=120, seed=5), default_playbook(), END)
    return stream[:MESSAGES]


def _run_to_end(settings: Settings, log: Path, total: int) -> None:
    worker = WorkerProcess(settings, log, "--only", "processors")
    try:
        wait_for(lambda: committed_input(settings) >= total, timeout=max(900.0, total / 50), what="all input committed",
                 worker=worker)
        time.sleep(3)  # the last flush and commit
    finally:
        worker.stop()


def _outputs(settings: Settings) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    facts = {f["event_id"]: f for f in read_all(settings.kafka_bootstrap, settings.topics.events)}
    alerts: dict[tuple[str, str], Any] = {}
    for alert in read_all(settings.kafka_bootstrap, settings.topics.alerts):
        alerts[(alert["alert_id"], alert["status"])] = alert
    return facts, alerts


def _assert_same_facts(facts: dict[str, Any], clean: dict[str, Any]) -> None:
    missing = [clean[k] for k in clean.keys() - facts.keys()]
    extra = [facts[k] for k in facts.keys() - clean.keys()]
    changed = [(clean[k], facts[k]) for k in clean.keys() & facts.keys() if clean[k] != facts[k]]
    assert not (missing or extra or changed), (
        f"{len(missing)} facts missing, {len(extra)} extra, {len(changed)} changed (of {len(clean)}); "
        f"first missing: {missing[:3]}; first extra: {extra[:3]}; first changed: {changed[:2]}")


def _project(settings: Settings) -> None:
    """Project everything on the output topics (`dealflow rebuild`)."""
    subprocess.run([sys.executable, "-m", "processors.cli", "rebuild"], cwd=REPO_ROOT, env=settings_env(settings),
                   capture_output=True, text=True, timeout=600, check=True)


@pytest.fixture(scope="module")
def clean_run(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    """Facts, alerts and the projection of one uninterrupted worker over the stream."""
    with isolated(base_settings) as settings:
        _produce(settings, _messages())
        _run_to_end(settings, tmp_path_factory.mktemp("clean") / "worker.log", MESSAGES)
        _project(settings)
        facts, alerts = _outputs(settings)
        yield facts, alerts, comparable_snapshot(settings.database_url)


def _end_offsets(settings: Settings, topics: list[str]) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _projected(settings: Settings) -> int:
    try:
        with psycopg.connect(settings.database_url, connect_timeout=3) as conn:
            row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


def _pipeline_done(settings: Settings, total: int) -> bool:
    try:
        if committed_input(settings) < total:
            return False
        return _projected(settings) >= _end_offsets(settings, [settings.topics.events, settings.topics.alerts])
    except KafkaError:
        return False  # the broker is (re)starting


def _assert_same_as_clean(settings: Settings, clean: tuple[Any, Any, Any]) -> None:
    facts, alerts = _outputs(settings)
    _assert_same_facts(facts, clean[0])
    assert alerts.keys() == clean[1].keys()
    tables = comparable_snapshot(settings.database_url)  # resolutions' moments aside (support.RESOLUTION_MOMENTS)
    for table, rows in clean[2].items():
        ours, theirs = {repr(r) for r in tables[table]}, {repr(r) for r in rows}
        extra, missing = sorted(ours - theirs), sorted(theirs - ours)
        assert not (extra or missing), f"{table}: {len(missing)} rows differ; clean {missing[:2]} vs {extra[:2]}"


def _stream_under_way(settings: Settings, tmp_path: Path) -> WorkerProcess:
    """The stream produced and a full worker (processors and projector) projecting it."""
    _produce(settings, _messages())
    # Small fetches: the batch worker takes the stream in many rounds, so it is still under way
    # when the fault comes, not already finished.
    worker = WorkerProcess(settings, tmp_path / "worker.log", extra_env={"DEALFLOW_FETCH_BYTES": "2048"})
    wait_for(lambda: _projected(settings) > 0, timeout=180, what="projection under way", worker=worker)
    return worker


def _wait_done(settings: Settings, worker: WorkerProcess, what: str) -> None:
    # One worker with the projector handles a few hundred messages a second on a 2-core machine.
    wait_for(lambda: _pipeline_done(settings, MESSAGES), timeout=max(300.0, MESSAGES / 50), what=what, worker=worker)
    time.sleep(2)  # the last commit


def test_broker_restart_mid_stream_the_worker_and_projector_reconnect_and_lose_nothing(
        base_settings: Settings, clean_run: tuple[Any, Any, Any], tmp_path: Path) -> None:
    if managed_pid(KafkaPaths.of(base_settings)) is None:
        unavailable("the broker restart test needs the broker started by `dealflow stack up`")
    with isolated(base_settings) as settings:
        worker = _stream_under_way(settings, tmp_path)
        try:
            stop_kafka(base_settings)
            time.sleep(8)  # the broker is gone; the worker must hold on
            assert worker.alive(), worker.output()
            wait_for_kafka(start_kafka(base_settings), base_settings, Deadline.after(120))
            _wait_done(settings, worker, "catching up after the restart")
        finally:
            if managed_pid(KafkaPaths.of(base_settings)) is None:  # never leave the suite without its broker
                wait_for_kafka(start_kafka(base_settings), base_settings, Deadline.after(120))
            worker.stop()
        _assert_same_as_clean(settings, clean_run)


def test_database_outage_the_projector_backs_off_and_catches_up(
        base_settings: Settings, clean_run: tuple[Any, Any, Any], tmp_path: Path) -> None:
    if running_server(PgPaths.of(base_settings)) is None:
        unavailable("the database outage test needs the PostgreSQL server started by `dealflow stack up`")
    with isolated(base_settings) as settings:
        worker = _stream_under_way(settings, tmp_path)
        try:
            stop_postgres(base_settings)
            time.sleep(10)  # the database is gone; the projector must back off, the worker go on
            assert worker.alive(), worker.output()
            assert "database unavailable" in worker.output()
        finally:
            ensure_postgres(base_settings, Deadline.after(120))
        try:
            _wait_done(settings, worker, "catching up after the outage")
        finally:
            worker.stop()
        _assert_same_as_clean(settings, clean_run)


def test_worker_killed_ten_times_loses_and_duplicates_nothing(base_settings: Settings, clean_run: tuple[Any, Any, Any],
                                                               tmp_path: Path) -> None:
    rng = random.Random(42)
    with isolated(base_settings) as settings:
        _produce(settings, _messages())
        kills = 0
        watch = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        outputs = [TopicPartition(settings.topics.events, p) for p in range(settings.partitions)]
        produced = lambda: sum(watch.end_offsets(outputs).values())  # noqa: E731
        try:
            while kills < KILLS and committed_input(settings) < MESSAGES:
                worker = WorkerProcess(settings, tmp_path / f"crash-{kills}.log", "--only", "processors",
                                       # small fetches: the batch worker takes the stream in many
                                       # rounds, so the kills land mid-stream, not after its end
                                       extra_env={"DEALFLOW_COMMIT_INTERVAL": "0.3", "DEALFLOW_FETCH_BYTES": "2048"})
                before = produced()
                await_progress(worker, lambda start=before: produced() > start)
                time.sleep(rng.uniform(0.0, 0.1))
                worker.stop(signal.SIGKILL)
                kills += 1
        finally:
            watch.close()
        _run_to_end(settings, tmp_path / "final.log", MESSAGES)
        assert kills == KILLS
        _project(settings)
        _assert_same_as_clean(settings, clean_run)  # facts, alert ids and every projection table


def test_every_message_twice_and_shuffled_within_a_deal_window(base_settings: Settings, clean_run: tuple[Any, Any, Any],
                                                               tmp_path: Path) -> None:
    """Duplicates change nothing; messages of one deal that arrive out of order stay consistent."""
    rng = random.Random(7)
    doubled = [m for message in _messages() for m in (message, message)]
    with isolated(base_settings) as settings:
        _produce(settings, doubled)
        _run_to_end(settings, tmp_path / "doubled.log", len(doubled))
        facts, alerts = _outputs(settings)
    clean_facts, clean_alerts, _ = clean_run
    assert facts == clean_facts and alerts.keys() == clean_alerts.keys()  # duplicates: exactly the clean run

    shuffled = _messages()
    for start in range(0, len(shuffled), 8):  # reorder within windows of 8 messages
        window = shuffled[start:start + 8]
        rng.shuffle(window)
        shuffled[start:start + 8] = window
    with isolated(base_settings) as settings:
        _produce(settings, shuffled)
        _run_to_end(settings, tmp_path / "shuffled.log", len(shuffled))
        facts, _ = _outputs(settings)
    for fact in facts.values():
        assert fact.get("days_in_from_stage", 0) >= 0  # no negative durations
    caused = {f["caused_by"] for f in facts.values() if f["caused_by"]}
    assert caused == {m["event_id"] for m in shuffled}  # every message had its effect
