"""Fixtures for tests against the real Kafka broker and PostgreSQL server.

Each test session gets its own topics (a unique prefix), its own Faust app id and its own
database, so tests never see each other's data. The services come from `dealflow stack up`
(`.ci/run` starts them); when they are not up, these tests fail under CI=true and skip otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient

from processors.config import Settings, Topics
from processors.kafka.topics import ensure_topics
from projections.migrate import apply_migrations
from tests.helpers import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]


def _kafka_up(bootstrap: str) -> str | None:
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000).close()
    except Exception as exc:  # noqa: BLE001
        return f"Kafka is not reachable at {bootstrap} ({type(exc).__name__}); run `dealflow stack up`"
    return None


def _postgres_up(url: str) -> str | None:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable ({type(exc).__name__}); run `dealflow stack up`"
    return None


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings.from_env()
    problem = _kafka_up(settings.kafka_bootstrap) or _postgres_up(settings.database_url)
    if problem:
        unavailable(problem)
    return settings


def _database_url(base: str, name: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


@contextmanager
def fresh_database(base: Settings) -> Iterator[str]:
    """A new database with the migrations applied (its URL); dropped afterwards."""
    database = f"dealflow_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = _database_url(base.database_url, database)
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(base.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def isolated(base: Settings, **changes: Any) -> Iterator[Settings]:
    """Settings with fresh topics, Faust app id and database; the database is dropped afterwards."""
    run = uuid.uuid4().hex[:8]
    topics = Topics(**{f.name: f"t{run}.{getattr(Topics(), f.name)}" for f in dataclasses.fields(Topics)})
    ensure_topics(base.kafka_bootstrap, topics.all(), base.partitions)
    with fresh_database(base) as url:
        yield dataclasses.replace(base, topics=topics, database_url=url, app_id=f"dealflow-test-{run}",
                                  **({"metrics_port": 0} | changes))


SNAPSHOT_TABLES = ("deals", "stage_history", "evidence", "alerts", "gate_rejections", "engagement",
                   "stage_entries", "close_date_changes", "projected_facts")


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows, sorted (offsets and their timestamps excluded)."""
    with psycopg.connect(database_url) as conn:
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in SNAPSHOT_TABLES}


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings of the session's shared worker."""
    with isolated(base_settings) as fresh:
        yield fresh


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


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker (processors + projector) for the test session."""
    process = WorkerProcess(settings, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    process.stop()


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
        import json

        for batch in self.consumer.poll(timeout_ms=200).values():
            self.records += [json.loads(record.value) for record in batch]
        return self.records

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture()
def read_topic(settings: Settings) -> Iterator[Callable[[str], TopicReader]]:
    """Open readers on topics by role (``events``, ``alerts``, ``deadletter``); closed after the test."""
    readers: list[TopicReader] = []

    def open_reader(role: str) -> TopicReader:
        reader = TopicReader(settings.kafka_bootstrap, getattr(settings.topics, role))
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()
