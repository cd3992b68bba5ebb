"""`dealflow soak`: a steady load for minutes, watching the worker's memory and consumer lag.

Produces simulated messages at a fixed rate to its own topics, runs one worker (processors
and projector) on them, and samples every ``interval`` seconds: the worker's resident memory
(of its whole process tree), the deals it has seen, the worker's consumer lag (input records
not yet committed) and the projector's lag (output records not yet projected). Prints one line
per sample and a summary: memory at the start and the end of the second half (flat means no
leak) and the largest lags (bounded means the worker keeps up).

The simulated organisation opens deals all the time and closes them; before the clock starts,
a warm-up (by default as many messages again, as fast as the worker takes them) brings its
pipeline to a steady state, so the timed part measures a running system, not its ramp-up.
What the worker must keep for every deal it has ever seen (closed deals are compacted) still
grows with the deals, so the summary also reports the growth per new deal and per message;
``--fixed-deals`` keeps the population steady instead (the timed part carries on the warm-up's
deals only: they go on engaging, advance, close; none is added).
Needs the local stack; everything it creates is its own and is removed afterwards.
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

from processors.config import Settings
from processors.kafka.clients import route
from processors.kafka.topics import ensure_contract_topics
from processors.stack.databases import drop_database
from processors.tools.bench import machine, simulated_lines
from processors.tools.bench_kafka import bench_settings
from processors.tools.bench_kafka import committed_offsets as _committed
from processors.tools.bench_kafka import end_offsets as _end_offsets
from processors.tools.bench_worker import projected_offsets, start_worker, wait_until_idle


@dataclass
class Sample:
    elapsed: float
    produced: int
    rss_mib: float
    deals: int
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


def timed_stream(count: int, warmup: int, fixed_deals: bool) -> list[str]:
    """The warm-up lines then ``count`` timed ones; with ``fixed_deals`` the timed ones are the
    later messages of the warm-up's deals only (a steady population: no deal is added)."""
    if not fixed_deals:
        return simulated_lines(warmup + count, datetime.now(timezone.utc))
    size = warmup + 2 * count
    while True:
        lines = simulated_lines(size, datetime.now(timezone.utc))
        known = {json.loads(line)["deal_id"] for line in lines[:warmup]}
        later = [line for line in lines[warmup:] if json.loads(line)["deal_id"] in known]
        if len(later) >= count:
            return lines[:warmup] + later[:count]
        size *= 2


def run_soak(base: Settings, minutes: float, rate: float, interval: float = 30.0,
             warmup: int | None = None, fixed_deals: bool = False) -> list[Sample]:
    """Offer ``rate`` messages/s for ``minutes`` after ``warmup`` messages (default: as many);
    return the samples (printed as they come)."""
    settings = bench_settings(base)
    count = int(minutes * 60 * rate)
    warmup = count if warmup is None else warmup
    lines = timed_stream(count, warmup, fixed_deals)
    print(f"==> dealflow soak: {warmup:,} warm-up messages, then {count:,} at {rate:g} msg/s for {minutes:g} min "
          f"on {machine()}", file=sys.stderr, flush=True)
    ensure_contract_topics(settings.kafka_bootstrap, settings.topics, settings.partitions)
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
    deals: set[str] = set()

    def send(line: str) -> None:
        message = json.loads(line)
        deals.add(str(message.get("deal_id")))
        topic, key, value = route(message, settings.topics)
        producer.send(topic, key=key, value=value)

    def sample(elapsed: float, produced: int) -> None:
        samples.append(_sample(elapsed, produced, len(deals), worker.pid, admin, consumer, settings, inputs,
                               outputs))

    try:
        time.sleep(15)  # let the worker join its group before the clock starts
        for line in lines[:warmup]:
            send(line)
        producer.flush()
        warmed = time.monotonic()
        wait_until_idle(settings, [worker], timeout=3600)
        print(f"  warm-up: {warmup:,} messages, {len(deals):,} deals, handled in "
              f"{time.monotonic() - warmed:.0f} s", file=sys.stderr, flush=True)
        started = time.monotonic()
        next_sample = started
        for sent, line in enumerate(lines[warmup:]):
            due = started + sent / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.05))
            if now >= next_sample:
                sample(now - started, sent)
                next_sample += interval
            send(line)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see /tmp/{settings.app_id}.log")
        producer.flush()
        sample(time.monotonic() - started, count)
        return samples
    finally:
        producer.close()
        admin.close()
        consumer.close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)
        drop_database(base.database_url, database)


def _sample(elapsed: float, produced: int, deals: int, pid: int, admin: KafkaAdminClient, consumer: KafkaConsumer,
            settings: Settings, inputs: list[str], outputs: list[str]) -> Sample:
    worker_lag = max(0, _end_offsets(consumer, inputs) - _committed(admin, settings.app_id, inputs))
    projector_lag = max(0, _end_offsets(consumer, outputs) - projected_offsets(settings.database_url))
    sample = Sample(elapsed, produced, tree_rss_mib(pid), deals, worker_lag, projector_lag)
    print(f"  {elapsed:7.0f} s  produced {produced:>9,}  deals {deals:>7,}  worker RSS {sample.rss_mib:7.1f} MiB  "
          f"worker lag {worker_lag:>7,}  projector lag {projector_lag:>7,}", file=sys.stderr, flush=True)
    return sample


def summary(samples: list[Sample], rate: float) -> list[tuple[str, str]]:
    """The soak's figures as (measurement, result) rows."""
    half = [s for s in samples if s.elapsed >= samples[-1].elapsed / 2] or samples
    first, last = half[0], half[-1]
    grown_kib = (last.rss_mib - first.rss_mib) * 1024
    new_deals, messages = last.deals - first.deals, last.produced - first.produced
    per_deal = f"{grown_kib / new_deals:,.1f} KiB per new deal" if new_deals else "no new deals"
    per_message = f"{grown_kib / messages * 1024:,.0f} B per message" if messages else "no messages"
    return [
        ("offered load", f"{rate:g} msg/s for {samples[-1].elapsed / 60:.1f} min ({samples[-1].produced:,} msgs, "
                         f"after the warm-up)"),
        ("deals seen", f"{samples[0].deals:,} at the start, {samples[-1].deals:,} at the end"),
        ("worker RSS (process tree)", f"start {samples[0].rss_mib:,.0f} MiB, second half {first.rss_mib:,.0f} → "
                                      f"{last.rss_mib:,.0f} MiB, max {max(s.rss_mib for s in samples):,.0f} MiB"),
        ("second-half growth", f"{grown_kib / 1024:+,.1f} MiB: {per_deal}, {per_message}"),
        ("worker consumer lag", f"max {max(s.worker_lag for s in samples):,}, "
                                f"second half max {max(s.worker_lag for s in half):,}, end {samples[-1].worker_lag:,}"),
        ("projector lag", f"max {max(s.projector_lag for s in samples):,}, "
                          f"second half max {max(s.projector_lag for s in half):,}, end {samples[-1].projector_lag:,}"),
    ]
