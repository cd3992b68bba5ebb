"""`dealflow bench`: Dealflow measured against the raw Kafka client, in the same run.

Prints one table: the baseline (a bare aiokafka consumer reading the same pre-produced
messages), Dealflow's end-to-end throughput with one worker and the projector as separate
processes, as deployed (gates, detectors and projections on), and its ratio to the baseline,
latency percentiles at a fixed offered load, the pure core's backtest throughput, and the
memory of 1,000,000 open deals in state with the cost of one deadline round. Needs the local
stack (`dealflow stack up`); everything it creates is its own.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from processors.config import Settings, Topics
from processors.kafka.topics import ensure_topics
from processors.playbooks.loader import load_playbook
from processors.tools.bench_state import state_memory
from processors.tools.simulate import SimulationSettings, simulate

LATENCY_WAIT = 30.0
"""Seconds a latency run waits after its last message for the alerts and rows still due."""


@dataclass
class BenchOptions:
    messages: int = 20_000
    latency_rates: tuple[float, ...] = (100.0, 1000.0)
    latency_seconds: float = 15.0
    backtest_messages: int = 1_000_000
    state_deals: int = 1_000_000


@dataclass
class Report:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))
        print(f"  {name:<58} {value}", file=sys.stderr, flush=True)

    def render(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        return "\n".join(f"| {name:<{width}} | {value} |" for name, value in self.rows)


def machine() -> str:
    memory = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    return f"{os.cpu_count()} cores, {memory / 1024:.1f} GiB memory, Python {sys.version.split()[0]}"


def percentiles(values: list[float], expected: int | None = None, waited: float = LATENCY_WAIT) -> str:
    """p50/p95/p99 in ms; of ``expected`` samples, the missing ones count as later than ``waited`` s."""
    expected = max(expected or len(values), len(values))
    if not expected:
        return "no samples"
    ordered = sorted(values)

    def pick(q: float) -> str:
        index = min(expected - 1, int(q * expected))
        return f"{ordered[index] * 1000:.1f} ms" if index < len(ordered) else f"> {waited:g} s"

    missing = f", {expected - len(values)} not within {waited:g} s of the last send" if len(values) < expected else ""
    return f"p50 {pick(0.5)}, p95 {pick(0.95)}, p99 {pick(0.99)} (n={expected}{missing})"


def simulated_lines(count: int, end: datetime, seed: int = 7) -> list[str]:
    """At least ``count`` simulated inbound messages as JSON lines (the first ``count``)."""
    playbook = load_playbook(None)
    lines: list[str] = []
    batch = 0
    while len(lines) < count:
        settings = SimulationSettings(deals=max(50, count // 50), days=120, seed=seed + batch)
        lines += [json.dumps(m) for m in simulate(settings, playbook, end)]
        batch += 1
    return lines[:count]


# -- Kafka side ------------------------------------------------------------------------------
def bench_settings(base: Settings) -> Settings:
    run = uuid.uuid4().hex[:6]
    topics = Topics(**{name: f"bench{run}.{value}" for name, value in Topics().__dict__.items()})
    head = base.database_url.rpartition("/")[0]
    return replace(base, topics=topics, app_id=f"dealflow-bench-{run}", database_url=f"{head}/dealflow_bench_{run}",
                   metrics_port=0)


def produce_lines(settings: Settings, lines: list[str]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                             batch_size=256 * 1024)
    engagement = {'"type": "email', '"type": "call', '"type": "meeting', '"type": "content',
                  '"type": "stakeholder', '"type": "signal'}
    for line in lines:
        topic = settings.topics.engagement if any(marker in line for marker in engagement) else settings.topics.commands
        deal_id = json.loads(line)["deal_id"]
        producer.send(topic, key=deal_id.encode(), value=line.encode())
    producer.flush()
    producer.close()


async def _raw_consume(bootstrap: str, topics: list[str], expected: int) -> float:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTP

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [AioTP(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - first metadata fetch
            partitions = [AioTP(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.perf_counter()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(batch) for batch in batches.values())
        return expected / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def baseline_rate(settings: Settings, expected: int) -> float:
    """Messages/s of a bare aiokafka consumer reading the pre-produced input topics."""
    return asyncio.run(_raw_consume(settings.kafka_bootstrap, [settings.topics.engagement, settings.topics.commands],
                                    expected))


def _end_offsets(consumer: KafkaConsumer, topics: list[str]) -> int:
    partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
    return sum(consumer.end_offsets(partitions).values()) if partitions else 0


def _first_timestamp(consumer: KafkaConsumer, topic: str) -> float | None:
    partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    first: float | None = None
    deadline = time.monotonic() + 5
    pending = set(partitions)
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200, max_records=500).items():
            if tp in pending and records:
                pending.discard(tp)
                first = records[0].timestamp if first is None else min(first, records[0].timestamp)
    return first / 1000 if first is not None else None


def start_worker(settings: Settings, log_path: str, only: str | None = None) -> subprocess.Popen[bytes]:
    """Start ``dealflow worker`` (``--only processors`` or ``projector`` with ``only``), logging to ``log_path``."""
    env = os.environ | {
        "DEALFLOW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "DEALFLOW_DATABASE_URL": settings.database_url,
        "DEALFLOW_APP_ID": settings.app_id, "DEALFLOW_METRICS_PORT": "0",
        **{f"DEALFLOW_TOPIC_{name.upper()}": value for name, value in settings.topics.__dict__.items()},
    }
    log = open(log_path, "wb")
    command = [sys.executable, "-m", "processors.cli", "worker", "--loglevel", "warn"]
    if only is not None:
        command += ["--only", only]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_deployment(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """The processors worker and the projector as separate processes, as docker-compose.yml deploys them."""
    return [start_worker(settings, f"/tmp/{settings.app_id}.{only}.log", only) for only in ("processors", "projector")]


def projected_offsets(database_url: str) -> int:
    try:
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def _committed(admin: KafkaAdminClient, group: str, topics: list[str]) -> int:
    try:
        result = admin.list_group_offsets({group: None})
    except KafkaError:  # the group has no coordinator yet: nothing committed
        return 0
    offsets = result.get(group, result) if isinstance(result, dict) else {}
    return sum(getattr(meta, "offset", meta) for tp, meta in offsets.items()
               if getattr(tp, "topic", None) in topics and getattr(meta, "offset", meta) > 0)


def _last_projection(database_url: str) -> float:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT extract(epoch FROM max(updated_at)) FROM projector_offsets").fetchone()
        return float(row[0]) if row and row[0] is not None else time.time()


def end_to_end(settings: Settings, messages: int, processes: list[subprocess.Popen[bytes]],
               timeout: float = 1800) -> float:
    """Messages/s from the input topics to committed facts, alerts and projection rows.

    From the first fact produced to the last projector commit, once the worker has committed
    every input offset and the projector has stored the end offsets of the output topics.
    """
    deadline = time.monotonic() + timeout
    wait_until_idle(settings, processes, timeout)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        outputs = _end_offsets(consumer, [settings.topics.events, settings.topics.alerts])
        while projected_offsets(settings.database_url) < outputs:
            _check_running(settings, processes)
            if time.monotonic() > deadline:
                raise TimeoutError("the projector did not finish the benchmark stream in time")
            time.sleep(0.2)
        started = _first_timestamp(consumer, settings.topics.events) or time.time()
        return messages / max(1e-6, _last_projection(settings.database_url) - started)
    finally:
        consumer.close()


def _check_running(settings: Settings, processes: list[subprocess.Popen[bytes]]) -> None:
    if any(process.poll() is not None for process in processes):
        raise RuntimeError(f"a worker process exited; see /tmp/{settings.app_id}*.log")


def wait_until_idle(settings: Settings, processes: list[subprocess.Popen[bytes]], timeout: float = 600) -> None:
    """Wait until the worker has committed every input offset (its backlog is gone); the
    ``processes`` (the worker's) must stay up meanwhile."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    inputs = [settings.topics.engagement, settings.topics.commands]
    try:
        deadline = time.monotonic() + timeout
        while _committed(admin, settings.app_id, inputs) < _end_offsets(consumer, inputs):
            _check_running(settings, processes)
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not catch up with its input in time")
            time.sleep(0.2)
    finally:
        consumer.close()
        admin.close()


def latency(settings: Settings, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Produce → alert and produce → PostgreSQL row latencies at ``rate`` messages/s.

    Each message is a `stage.change` for a deal that does not exist, which the gate refuses at
    once with a `gate.rejected` alert caused by that message. The producing loop only produces;
    two watcher threads note when each alert arrives on the alert topic and when its row is in
    PostgreSQL, so the bench's own collecting never delays a message it measures.
    """
    sent: dict[str, float] = {}
    to_alert: dict[str, float] = {}
    to_row: dict[str, float] = {}
    stop = threading.Event()
    ready = threading.Event()
    watchers = [threading.Thread(target=_watch_alerts, args=(settings, sent, to_alert, stop, ready), daemon=True),
                threading.Thread(target=_watch_rows, args=(settings.database_url, sent, to_row, stop), daemon=True)]
    for watcher in watchers:
        watcher.start()
    ready.wait(30)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1, linger_ms=0)
    count = int(rate * seconds)
    started = time.perf_counter()
    for i in range(count):
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        event_id = f"lat-{uuid.uuid4().hex}"
        message = {"event_id": event_id, "type": "stage.change", "deal_id": f"lat-{i}", "to_stage": "proposal",
                   "requested_by": "bench", "occurred_at": datetime.now(timezone.utc).isoformat()}
        sent[event_id] = time.time()
        producer.send(settings.topics.commands, key=f"lat-{i}".encode(), value=json.dumps(message).encode())
    producer.flush()
    deadline = time.perf_counter() + LATENCY_WAIT
    while (len(to_alert) < count or len(to_row) < count) and time.perf_counter() < deadline:
        time.sleep(0.1)
    stop.set()
    for watcher in watchers:
        watcher.join(10)
    producer.close()
    return list(to_alert.values()), list(to_row.values())


def _watch_alerts(settings: Settings, sent: dict[str, float], seen: dict[str, float], stop: threading.Event,
                  ready: threading.Event) -> None:
    """Note the arrival of each alert caused by a message in ``sent``, until ``stop``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    partitions = [TopicPartition(settings.topics.alerts, p)
                  for p in (consumer.partitions_for_topic(settings.topics.alerts) or set())]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)  # resolve the end now, before anything is produced
    ready.set()
    try:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                arrived = time.time()
                for record in records:
                    caused_by = json.loads(record.value).get("caused_by")
                    if caused_by in sent:
                        seen[caused_by] = arrived - sent[caused_by]
    finally:
        consumer.close()


def _watch_rows(database_url: str, sent: dict[str, float], seen: dict[str, float], stop: threading.Event,
                interval: float = 0.02) -> None:
    """Note when the alert row caused by each message in ``sent`` is in PostgreSQL, until ``stop``."""
    waiting: deque[str] = deque()
    known = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            ids = list(sent)  # the producing thread only appends
            waiting.extend(ids[known:])
            known = len(ids)
            batch = [waiting.popleft() for _ in range(min(len(waiting), 2000))]
            if batch:
                rows = conn.execute("SELECT caused_by FROM alerts WHERE caused_by = ANY(%s)", (batch,)).fetchall()
                now = time.time()
                found = {caused_by for (caused_by,) in rows}
                for event_id in found:
                    seen[event_id] = now - sent[event_id]
                waiting.extendleft(reversed([event_id for event_id in batch if event_id not in found]))
            time.sleep(interval)


# -- pure core --------------------------------------------------------------------------------
def backtest_rate(lines: list[str]) -> float:
    from processors.replay.backtest import run_backtest

    started = time.perf_counter()
    run_backtest(lines, load_playbook(None), io.BytesIO(), None, errors=io.StringIO())
    return len(lines) / (time.perf_counter() - started)



def run_bench(base: Settings, options: BenchOptions) -> Report:
    """Run every measurement and return the table (progress goes to stderr)."""
    report = Report()
    report.add("machine", machine())
    settings = bench_settings(base)
    end = datetime.now(timezone.utc) - timedelta(days=1)
    lines = simulated_lines(options.messages, end)
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.partitions)
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.database_url.rpartition("/")[2]}"')
    processes: list[subprocess.Popen[bytes]] = []
    try:
        produce_lines(settings, lines)
        raw = baseline_rate(settings, len(lines))
        report.add(f"baseline: raw aiokafka consume ({len(lines):,} msgs)", f"{raw:,.0f} msg/s")
        processes = start_deployment(settings)
        e2e = end_to_end(settings, len(lines), processes)
        report.add("dealflow end to end, 1 worker + projector (gates+detectors+projection)",
                   f"{e2e:,.0f} msg/s ({e2e / raw:.1%} of baseline)")
        for rate in options.latency_rates:
            wait_until_idle(settings, processes)
            count = int(rate * options.latency_seconds)
            to_alert, to_row = latency(settings, rate, options.latency_seconds)
            report.add(f"latency produce -> alert at {rate:g} msg/s", percentiles(to_alert, count))
            report.add(f"latency produce -> PostgreSQL row at {rate:g} msg/s", percentiles(to_row, count))
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        with psycopg.connect(base.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_url.rpartition("/")[2]}" WITH (FORCE)')
    big = simulated_lines(options.backtest_messages, end, seed=11)
    report.add(f"backtest, pure core ({len(big):,} msgs)", f"{backtest_rate(big):,.0f} msg/s")
    report.add(f"worker state, {options.state_deals:,} open deals", state_memory(options.state_deals))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.add("bench process peak RSS", f"{peak:,.0f} MiB")
    return report
