"""Fixtures for tests against the real Kafka broker and PostgreSQL server.

Each test session gets its own topics (a unique prefix), its own Faust app id and its own
database, so tests never see each other's data. The services come from `dealflow stack up`
(`.ci/run` starts them); when they are not up, these tests fail under CI=true and skip otherwise.
What the tests share besides fixtures is in :mod:`tests.integration.support`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from kafka import KafkaAdminClient

from processors.config import Settings
from tests.helpers import unavailable
from tests.integration.support import TopicReader, WorkerProcess, isolated


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


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings of the session's shared worker."""
    with isolated(base_settings) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One worker (processors + projector) for the test session."""
    process = WorkerProcess(settings, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    process.stop()


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
