"""The worker under bench: starting it, waiting until it is idle, and its end-to-end throughput."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer

from processors.config import Settings
from processors.tools.bench_kafka import committed_offsets, end_offsets, first_timestamp


def start_worker(settings: Settings, log_path: str, only: str | None = None) -> subprocess.Popen[bytes]:
    """Start ``dealflow worker`` (``--only processors`` or ``projector`` with ``only``), logging to ``log_path``."""
    env = os.environ | {
        "DEALFLOW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "DEALFLOW_DATABASE_URL": settings.database_url,
        "DEALFLOW_APP_ID": settings.app_id, "DEALFLOW_METRICS_PORT": "0", "DEALFLOW_RUNTIME": settings.runtime,
        **{f"DEALFLOW_TOPIC_{name.upper()}": value for name, value in settings.topics.__dict__.items()},
    }
    log = open(log_path, "wb")
    command = [sys.executable, "-m", "processors.cli", "worker", "--loglevel", "warn"]
    if only is not None:
        command += ["--only", only]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_deployment(settings: Settings, workers: int = 1) -> list[subprocess.Popen[bytes]]:
    """``workers`` processors workers (one consumer group) and the projector, each its own process,
    as docker-compose.yml deploys them (``docker compose up --scale worker=N`` for more workers)."""
    processes = [start_worker(settings, f"/tmp/{settings.app_id}.processors-{number}.log", "processors")
                 for number in range(1, workers + 1)]
    return processes + [start_worker(settings, f"/tmp/{settings.app_id}.projector.log", "projector")]


def projected_offsets(database_url: str) -> int:
    """The sum of the output offsets the projector has stored (0 while it cannot say)."""
    try:
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def last_projection(database_url: str) -> float:
    """When the projector last stored its offsets (epoch seconds)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT extract(epoch FROM max(updated_at)) FROM projector_offsets").fetchone()
        return float(row[0]) if row and row[0] is not None else time.time()


def end_to_end(settings: Settings, messages: int, processes: list[subprocess.Popen[bytes]],
               timeout: float = 1800) -> tuple[float, float]:
    """Messages/s from the input topics to committed facts, alerts and projection rows, and
    messages/s of the worker alone (to its last input commit, seen within 0.2 s).

    From the first fact produced to the last projector commit, once the worker has committed
    every input offset and the projector has stored the end offsets of the output topics.
    """
    deadline = time.monotonic() + timeout
    wait_until_idle(settings, processes, timeout)
    worker_done = time.time()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        outputs = end_offsets(consumer, [settings.topics.events, settings.topics.alerts])
        while projected_offsets(settings.database_url) < outputs:
            check_running(settings, processes)
            if time.monotonic() > deadline:
                raise TimeoutError("the projector did not finish the benchmark stream in time")
            time.sleep(0.2)
        started = first_timestamp(consumer, settings.topics.events) or time.time()
        return (messages / max(1e-6, last_projection(settings.database_url) - started),
                messages / max(1e-6, worker_done - started))
    finally:
        consumer.close()


def check_running(settings: Settings, processes: list[subprocess.Popen[bytes]]) -> None:
    """RuntimeError when one of the worker's ``processes`` has exited."""
    if any(process.poll() is not None for process in processes):
        raise RuntimeError(f"a worker process exited; see /tmp/{settings.app_id}*.log")


def wait_for_group(settings: Settings, members: int, processes: list[subprocess.Popen[bytes]],
                   timeout: float = 120) -> None:
    """Wait until the workers' consumer group is stable with ``members`` members (each has partitions)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while True:
            group = admin.describe_groups([settings.app_id]).get(settings.app_id) or {}
            if group.get("group_state") == "Stable" and len(group.get("members") or []) == members:
                return
            check_running(settings, processes)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {members} workers did not form one stable group in time")
            time.sleep(0.2)
    finally:
        admin.close()


def wait_until_idle(settings: Settings, processes: list[subprocess.Popen[bytes]], timeout: float = 600) -> None:
    """Wait until the worker has committed every input offset (its backlog is gone); the
    ``processes`` (the worker's) must stay up meanwhile."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    inputs = [settings.topics.engagement, settings.topics.commands]
    try:
        deadline = time.monotonic() + timeout
        while committed_offsets(admin, settings.app_id, inputs) < end_offsets(consumer, inputs):
            check_running(settings, processes)
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not catch up with its input in time")
            time.sleep(0.2)
    finally:
        consumer.close()
        admin.close()
