"""`dealflow bench`: Dealflow measured against the raw Kafka client, in the same run.

Prints one table: the baseline (a bare aiokafka consumer reading the same pre-produced
messages), Dealflow's end-to-end throughput with one worker and the projector as separate
processes, as deployed (gates, detectors and projections on), and its ratio to the baseline,
for each worker runtime (``DEALFLOW_RUNTIME``: the Faust app and the batch loop, same core,
same run), latency percentiles at a fixed offered load for each, the projector alone (its batch
writer putting the same messages' facts and alerts into PostgreSQL), the pure core's backtest
throughput, the memory of 1,000,000 open deals in state with the cost of one deadline round,
and the time the batch worker takes to restore 100,000 deals from its changelog. Needs the local
stack (`dealflow stack up`); everything it creates is its own.
This module runs them and keeps the table; the measurements live in ``bench_kafka`` (input
and baseline), ``bench_worker`` (end to end), ``bench_latency``, ``bench_projector``,
``bench_recovery`` and ``bench_state``.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import psycopg

from processors.config import Settings
from processors.kafka.topics import ensure_contract_topics
from processors.playbooks.loader import load_playbook
from processors.stack.databases import drop_database
from processors.tools.bench_kafka import baseline_rate, bench_settings, delete_run_topics, produce_lines
from processors.tools.bench_latency import latency, percentiles
from processors.tools.bench_projector import backtest_outputs, projector_rate
from processors.tools.bench_recovery import recovery_time
from processors.tools.bench_state import state_memory
from processors.tools.bench_worker import end_to_end, start_deployment, wait_for_group, wait_until_idle
from processors.tools.simulate import SimulationSettings, simulate


@dataclass
class BenchOptions:
    """The loads of one bench run."""

    messages: int = 20_000
    latency_rates: tuple[float, ...] = (100.0, 1000.0)
    latency_seconds: float = 15.0
    backtest_messages: int = 1_000_000
    state_deals: int = 1_000_000
    recovery_deals: int = 100_000
    runtimes: tuple[str, ...] = ("faust", "batch")
    """The worker runtimes measured end to end, each with its own topics, group and database."""
    scale_out_workers: int = 2
    """Workers of one consumer group measured end to end beside one (the batch runtime; 0 or 1: skip)."""


@dataclass
class Report:
    """The bench's table: one row per measurement, each echoed to stderr when added."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))
        print(f"  {name:<58} {value}", file=sys.stderr, flush=True)

    def render(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        return "\n".join(f"| {name:<{width}} | {value} |" for name, value in self.rows)


def machine() -> str:
    """Cores, memory and Python version of this machine, in one line."""
    memory = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    return f"{os.cpu_count()} cores, {memory / 1024:.1f} GiB memory, Python {sys.version.split()[0]}"


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


# -- pure core --------------------------------------------------------------------------------
def backtest_rate(lines: list[str]) -> float:
    """Messages/s of the pure core's backtest over ``lines``."""
    from processors.replay.backtest import run_backtest

    started = time.perf_counter()
    run_backtest(lines, load_playbook(None), io.BytesIO(), None, errors=io.StringIO())
    return len(lines) / (time.perf_counter() - started)


def run_bench(base: Settings, options: BenchOptions) -> Report:
    """Run every measurement and return the table (progress goes to stderr)."""
    report = Report()
    report.add("machine", machine())
    end = datetime.now(timezone.utc) - timedelta(days=1)
    lines = simulated_lines(options.messages, end)
    raw = 0.0
    for runtime in options.runtimes:
        settings = replace(bench_settings(base), runtime=runtime)
        with deployment(base, settings, lines) as processes:
            if not raw:
                raw = baseline_rate(settings, len(lines))
                report.add(f"baseline: raw aiokafka consume ({len(lines):,} msgs)", f"{raw:,.0f} msg/s")
            processes += start_deployment(settings)
            e2e, worker = end_to_end(settings, len(lines), processes)
            report.add(f"dealflow end to end, 1 worker ({runtime}) + projector (gates+detectors+projection)",
                       f"{e2e:,.0f} msg/s ({e2e / raw:.1%} of baseline; the worker alone {worker:,.0f} msg/s)")
            for rate in options.latency_rates:
                wait_until_idle(settings, processes)
                count = int(rate * options.latency_seconds)
                to_alert, to_row = latency(settings, rate, options.latency_seconds)
                report.add(f"latency ({runtime}) produce -> alert at {rate:g} msg/s", percentiles(to_alert, count))
                report.add(f"latency ({runtime}) produce -> PostgreSQL row at {rate:g} msg/s",
                           percentiles(to_row, count))
    if options.scale_out_workers > 1 and "batch" in options.runtimes:
        settings = replace(bench_settings(base), runtime="batch")
        with deployment(base, settings, []) as processes:  # the stream comes once the group has formed
            processes += start_deployment(settings, workers=options.scale_out_workers)
            wait_for_group(settings, options.scale_out_workers, processes)
            produce_lines(settings, lines)
            e2e, worker = end_to_end(settings, len(lines), processes)
            report.add(f"dealflow end to end, {options.scale_out_workers} workers (batch, one group) + projector",
                       f"{e2e:,.0f} msg/s ({e2e / raw:.1%} of baseline; the workers alone {worker:,.0f} msg/s)")
    outputs = backtest_outputs(lines)
    report.add(f"projector alone, {len(outputs):,} facts and alerts into PostgreSQL",
               f"{projector_rate(base, outputs, base.projector_batch):,.0f} facts/s "
               f"(facts and alerts, writes only, batches of {base.projector_batch:,})")
    big = simulated_lines(options.backtest_messages, end, seed=11)
    report.add(f"backtest, pure core ({len(big):,} msgs)", f"{backtest_rate(big):,.0f} msg/s")
    report.add(f"worker state, {options.state_deals:,} open deals", state_memory(options.state_deals))
    if options.recovery_deals:
        report.add(f"batch worker state recovery, {options.recovery_deals:,} deals",
                   recovery_time(bench_settings(base), options.recovery_deals))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.add("bench process peak RSS", f"{peak:,.0f} MiB")
    return report


@contextmanager
def deployment(base: Settings, settings: Settings, lines: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Topics and a database of ``settings``' own with ``lines`` produced; the processes started
    into the yielded list are stopped and the database dropped afterwards."""
    ensure_contract_topics(settings.kafka_bootstrap, settings.topics, settings.partitions)
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{settings.database_url.rpartition("/")[2]}"')
    processes: list[subprocess.Popen[bytes]] = []
    try:
        produce_lines(settings, lines)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
        drop_database(base.database_url, settings.database_url.rpartition("/")[2])
        delete_run_topics(settings)
