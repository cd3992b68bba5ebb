"""Helpers the integration tests share: isolated settings and databases, a `dealflow worker`
subprocess, polling, topic readers, projection snapshots and the sample stream's backtest.

Plain functions and classes only; the fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from processors.config import Settings, Topics
from processors.kafka.topics import ensure_contract_topics
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import run_backtest
from processors.stack.databases import drop_database
from processors.tools.sample import sample_stream
from projections.apply import apply_one_by_one
from projections.batch_write import apply_batch
from projections.migrate import apply_migrations

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_END = datetime(2026, 5, 1, tzinfo=timezone.utc)


def _database_url(base: str, name: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


@contextmanager
def fresh_database(base: Settings, migrate: bool = True) -> Iterator[str]:
    """A new database with the migrations applied (unless ``migrate`` is false: empty), its URL; dropped afterwards."""
    database = f"dealflow_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = _database_url(base.database_url, database)
    try:
        if migrate:
            apply_migrations(url)
        yield url
    finally:
        drop_database(base.database_url, database)


@contextmanager
def isolated(base: Settings, **changes: Any) -> Iterator[Settings]:
    """Settings with fresh topics, Faust app id and database; the database is dropped afterwards."""
    run = uuid.uuid4().hex[:8]
    topics = Topics(**{f.name: f"t{run}.{getattr(Topics(), f.name)}" for f in dataclasses.fields(Topics)})
    ensure_contract_topics(base.kafka_bootstrap, topics, base.partitions)
    with fresh_database(base) as url:
        yield dataclasses.replace(base, topics=topics, database_url=url, app_id=f"dealflow-test-{run}",
                                  **({"metrics_port": 0} | changes))


SNAPSHOT_TABLES = ("deals", "stage_history", "evidence", "alerts", "gate_rejections", "engagement",
                   "stage_entries", "close_date_changes", "projected_facts", "alert_changes", "alert_actions",
                   "blockers", "interventions")


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows, sorted (offsets and their timestamps excluded)."""
    with psycopg.connect(database_url) as conn:
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in SNAPSHOT_TABLES}


RESOLUTION_MOMENTS = {"alerts": ("resolved_at", "updated_at"), "alert_changes": ("at",)}
"""The moments a live worker resolved or escalated a condition at: when its wall clock saw the
condition end or cross a threshold (processing time, for a stream from long ago), so a run that was
interrupted, replayed or shared records other moments for the same resolutions and escalations."""


def comparable_snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """:func:`snapshot`, sorted, with :data:`RESOLUTION_MOMENTS` of resolved and updated records left out
    (None); everything else of those records (severity, revision, details, ...) still compares."""
    tables = snapshot(database_url)
    with psycopg.connect(database_url) as conn:
        for table, left_out in RESOLUTION_MOMENTS.items():
            columns = [row[0] for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (table,)).fetchall()]
            status, drop = columns.index("status"), {columns.index(name) for name in left_out}
            tables[table] = [tuple(None if i in drop and row[status] in ("resolved", "updated") else value
                                   for i, value in enumerate(row)) for row in tables[table]]
    return {table: sorted(rows, key=repr) for table, rows in tables.items()}


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `dealflow` process use ``settings``."""
    env = os.environ.copy()
    env.update({
        "DEALFLOW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DEALFLOW_DATABASE_URL": settings.database_url,
        "DEALFLOW_APP_ID": settings.app_id,
        "DEALFLOW_PARTITIONS": str(settings.partitions),
        "DEALFLOW_TICK_SECONDS": str(settings.tick_seconds),
        "DEALFLOW_METRICS_PORT": str(settings.metrics_port),
        **{f"DEALFLOW_TOPIC_{f.name.upper()}": getattr(settings.topics, f.name)
           for f in dataclasses.fields(Topics)},
    })
    if settings.playbook:
        env["DEALFLOW_PLAYBOOK"] = settings.playbook
    return env


class WorkerProcess:
    """A `dealflow worker` subprocess; its output goes to a log file shown on failure."""

    def __init__(self, settings: Settings, log_path: Path, *args: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "processors.cli", "worker", *args],
            cwd=REPO_ROOT, env=settings_env(settings) | (extra_env or {}), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def await_progress(process: WorkerProcess, progressed: Callable[[], bool], timeout: float = 120.0) -> None:
    """Return as soon as ``progressed()``, polled every few milliseconds, so a crash test's kill
    lands mid-stream even when the process gets far in wait_for's half second."""
    deadline = time.monotonic() + timeout
    while not progressed():
        if not process.alive() or time.monotonic() > deadline:
            pytest.fail(f"no progress before the kill:\n{process.output()}")
        time.sleep(0.005)


def wait_for(check: Callable[[], Any], timeout: float = 90.0, what: str = "condition",
             worker: WorkerProcess | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with context after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if worker is not None and not worker.alive():
            pytest.fail(f"worker exited while waiting for {what}:\n{worker.output()}")
        time.sleep(0.5)
    context = f"\nworker log:\n{worker.output()}" if worker else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{context}")


class TopicReader:
    """Reads a topic from the beginning and keeps every decoded JSON payload."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            self.records += [json.loads(record.value) for record in batch]
        return self.records

    def close(self) -> None:
        self.consumer.close()




def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` as it is now (up to its end offsets), decoded from JSON."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[dict[str, Any]] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                records += [json.loads(r.value) for r in batch]
        return records
    finally:
        consumer.close()


ASSIGNED = re.compile(r"assigned partitions \[([\d, ]*)\]")


def partitions_shared(workers: list[WorkerProcess], partitions: int) -> bool:
    """Whether the batch workers' latest assignments (from their logs) split every input partition
    between them, each worker some."""
    latest = [ASSIGNED.findall(worker.log_path.read_text(errors="replace")) for worker in workers]
    if not all(found and found[-1].strip() for found in latest):
        return False
    owned = [{int(p) for p in found[-1].split(",")} for found in latest]
    return sum(map(len, owned)) == partitions and set().union(*owned) == set(range(partitions))


def projected_all(settings: Settings) -> bool:
    """Whether the projector's stored offsets reach the end of the events and alerts topics."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        topics = (settings.topics.events, settings.topics.alerts)
        ends = sum(consumer.end_offsets([TopicPartition(t, p) for t in topics
                                         for p in consumer.partitions_for_topic(t) or []]).values())
    finally:
        consumer.close()
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()
    return row is not None and int(row[0]) >= ends


def sample_backtest_outputs(runs: int, end: datetime = SAMPLE_END) -> list[tuple[str, dict[str, Any]]]:
    """Facts and alerts (``(kind, payload)``) of ``runs`` copies of the sample stream, backtested up to ``end``."""
    lines = [m if isinstance(m, str) else json.dumps(m)
             for r in range(runs) for m in sample_stream(end, f"-r{r}")]
    outputs: list[tuple[str, dict[str, Any]]] = []
    run_backtest(lines, default_playbook(), io.BytesIO(), None, as_of=end, errors=io.StringIO(),
                 sink=lambda kind, payload: outputs.append((kind, payload)))
    return outputs


def committed_input(settings: Settings) -> int:
    """How many input records (engagement and commands) the worker's consumer group has committed."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        for attempt in range(20):
            try:
                offsets = admin.list_group_offsets({settings.app_id: None}).get(settings.app_id, {})
                break
            except KafkaError as error:  # the coordinator moves or loads during restarts and fresh starts
                if not getattr(error, "retriable", False) or attempt == 19:
                    raise
                time.sleep(0.5)
        inputs = (settings.topics.engagement, settings.topics.commands)
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic in inputs and meta.offset > 0)
    finally:
        admin.close()


def write_records(url: str, records: list[tuple[str, dict[str, Any]]], by_batch: bool, batch: int) -> None:
    """Project ``records`` (("fact" | "alert", payload)) in transactions of ``batch``, with the set-based
    writer (``by_batch``) or the one-by-one reference writer."""
    writer = apply_batch if by_batch else apply_one_by_one
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(0, len(records), batch):
            with conn.transaction(), conn.cursor() as cur:
                writer(cur, records[first:first + batch])


def query_rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one query on the database at ``url``."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
