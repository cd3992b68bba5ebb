"""`dealflow soak`: a steady load for minutes, watching the worker's memory and consumer lag.

Produces simulated messages at a fixed rate to its own topics, runs one worker (processors
and projector) on them, and samples every ``interval`` seconds: the worker's resident memory
(of its whole process tree), the worker's consumer lag (input records not yet committed) and
the projector's lag (output records not yet projected). Prints one line per sample and a
summary: memory at the start and the end of the second half (flat means no leak) and the
largest lags (bounded means the worker keeps up). Needs the local stack; everything it creates
is its own and is removed afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from processors.bench import (
    _committed,
    _end_offsets,
    bench_settings,
    machine,
    projected_offsets,
    simulated_lines,
    start_worker,
)
from processors.config import Settings
from processors.kafka_io import route
from processors.topics import ensure_topics


@dataclass
class Sample:
    elapsed: float
    produced: int
    rss_mib: float
    worker_lag: int
    projector_lag: int


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MiB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total / 1024


def run_soak(base: Settings, minutes: float, rate: float, interval: float = 30.0) -> list[Sample]:
    """Offer ``rate`` messages/s for ``minutes``; return the samples (printed as they come)."""
    settings = bench_settings(base)
    count = int(minutes * 60 * rate)
    lines = simulated_lines(count, datetime.now(timezone.utc))
    print(f"==> dealflow soak: {count:,} messages at {rate:g} msg/s for {minutes:g} min on {machine()}",
          file=sys.stderr, flush=True)
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.partitions)
    database = settings.database_url.rpartition("/")[2]
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    worker = start_worker(settings, f"/tmp/{settings.app_id}.log")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    inputs = [settings.topics.engagement, settings.topics.commands]
    outputs = [settings.topics.events, settings.topics.alerts]
    samples: list[Sample] = []
    try:
        time.sleep(15)  # let the worker join its group before the clock starts
        started = time.monotonic()
        next_sample = started
        for sent, line in enumerate(lines):
            due = started + sent / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.05))
            if now >= next_sample:
                samples.append(_sample(now - started, sent, worker.pid, admin, consumer, settings, inputs, outputs))
                next_sample += interval
            topic, key, value = route(json.loads(line), settings.topics)
            producer.send(topic, key=key, value=value)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see /tmp/{settings.app_id}.log")
        producer.flush()
        samples.append(_sample(time.monotonic() - started, len(lines), worker.pid, admin, consumer, settings,
                               inputs, outputs))
        return samples
    finally:
        producer.close()
        admin.close()
        consumer.close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)
        with psycopg.connect(base.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _sample(elapsed: float, produced: int, pid: int, admin: KafkaAdminClient, consumer: KafkaConsumer,
            settings: Settings, inputs: list[str], outputs: list[str]) -> Sample:
    worker_lag = max(0, _end_offsets(consumer, inputs) - _committed(admin, settings.app_id, inputs))
    projector_lag = max(0, _end_offsets(consumer, outputs) - projected_offsets(settings.database_url))
    sample = Sample(elapsed, produced, tree_rss_mib(pid), worker_lag, projector_lag)
    print(f"  {elapsed:7.0f} s  produced {produced:>9,}  worker RSS {sample.rss_mib:7.1f} MiB  "
          f"worker lag {worker_lag:>7,}  projector lag {projector_lag:>7,}", file=sys.stderr, flush=True)
    return sample


def summary(samples: list[Sample], rate: float) -> list[tuple[str, str]]:
    """The soak's figures as (measurement, result) rows."""
    half = [s for s in samples if s.elapsed >= samples[-1].elapsed / 2] or samples
    return [
        ("offered load", f"{rate:g} msg/s for {samples[-1].elapsed / 60:.1f} min ({samples[-1].produced:,} msgs)"),
        ("worker RSS (process tree)", f"start {samples[0].rss_mib:,.0f} MiB, second half {half[0].rss_mib:,.0f} → "
                                      f"{half[-1].rss_mib:,.0f} MiB, max {max(s.rss_mib for s in samples):,.0f} MiB"),
        ("worker consumer lag", f"max {max(s.worker_lag for s in samples):,}, "
                                f"second half max {max(s.worker_lag for s in half):,}, end {samples[-1].worker_lag:,}"),
        ("projector lag", f"max {max(s.projector_lag for s in samples):,}, "
                          f"second half max {max(s.projector_lag for s in half):,}, end {samples[-1].projector_lag:,}"),
    ]
