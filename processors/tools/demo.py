"""``dealflow demo``: the live pipeline on the built-in sample stream, narrated in the terminal."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

import psycopg

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import load_playbook
from processors.tools.sample import sample_stream
from processors.tools.simulate import SimulationSettings, simulate


def _tail(settings: Settings, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "processors.cli", "tail", "--seconds", str(seconds)],
        env=os.environ.copy(),
    )


def _print_pipeline(settings: Settings, deal_suffix: str) -> None:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            """SELECT deal_id, stage, status, amount, array_length(missing_criteria, 1)
               FROM deals WHERE deal_id LIKE %s ORDER BY deal_id""",
            (f"%{deal_suffix}",),
        ).fetchall()
    print("\nPostgreSQL projection (table deals):")
    print(f"  {'deal_id':<22} {'stage':<14} {'status':<13} {'amount':>10}  missing criteria")
    for deal_id, stage, status, amount, missing in rows:
        print(f"  {deal_id:<22} {stage:<14} {status:<13} {amount:>10,.0f}  {missing or 0}")


def run_demo(settings: Settings, seconds: float = 60.0) -> int:
    """Start a worker, produce the sample stream, print what happens, then show the projection."""
    run = f"-{secrets.token_hex(2)}"
    print(f"==> starting the worker (processors + projector) against {settings.kafka_bootstrap}")
    worker = subprocess.Popen([sys.executable, "-m", "processors.cli", "worker", "--loglevel", "warn"],
                              env=os.environ.copy(), start_new_session=True)
    tail = _tail(settings, seconds)
    try:
        time.sleep(3)
        print(f"==> producing the sample stream (deal ids end in {run!r}); facts, alerts and dead letters:")
        now = datetime.now(timezone.utc)
        messages: list[Any] = list(sample_stream(now, run))
        org = simulate(SimulationSettings(deals=6, days=45, seed=int(run[1:], 16)), load_playbook(settings.playbook),
                       now)
        messages += org  # then a small simulated sales organisation (`dealflow simulate`)
        threading.Thread(target=produce, args=(settings.kafka_bootstrap, settings.topics, messages, 0.05),
                         daemon=True).start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.5)
        if worker.poll() is not None:
            print(f"worker exited early with code {worker.returncode}", file=sys.stderr)
            return 1
        _print_pipeline(settings, run)
        return 0
    finally:
        tail.terminate()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
