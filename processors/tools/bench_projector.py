"""The projector alone: how fast its batch writer puts facts and alerts into PostgreSQL.

The bench's simulated messages are backtested by the pure core (not timed); their facts and
alerts are then written into a fresh database of their own by ``python -m projections.throughput``
(the direct path of `dealflow backtest --database-url`: the projector's batch writer without
Kafka, in batches of the projector's size), a process of its own, which times only the writes.
Needs only PostgreSQL.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg

from processors.config import Settings
from processors.playbooks.loader import load_playbook
from processors.replay.backtest import run_backtest
from processors.stack.databases import drop_database


def backtest_outputs(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The facts and alerts of backtesting ``lines``, as ("fact" | "alert", payload), in order."""
    outputs: list[tuple[str, dict[str, Any]]] = []
    run_backtest(lines, load_playbook(None), io.BytesIO(), None, errors=io.StringIO(),
                 sink=lambda kind, payload: outputs.append((kind, payload)))
    return outputs


def projector_rate(base: Settings, outputs: list[tuple[str, dict[str, Any]]], batch_size: int) -> float:
    """Facts and alerts per second written into a fresh database (dropped afterwards)."""
    head, _, _ = base.database_url.rpartition("/")
    database = f"dealflow_bench_projector_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="dealflow-bench-") as scratch:
            records, playbook = Path(scratch, "records.jsonl"), Path(scratch, "playbook.json")
            records.write_text("".join(json.dumps(output) + "\n" for output in outputs), encoding="utf-8")
            playbook.write_text(load_playbook(None).model_dump_json(), encoding="utf-8")
            result = subprocess.run(
                [sys.executable, "-m", "projections.throughput", str(records), str(playbook), f"{head}/{database}",
                 str(batch_size)], capture_output=True, text=True, timeout=1800, check=True)
        return float(result.stdout.split()[-1])
    finally:
        drop_database(base.database_url, database)
