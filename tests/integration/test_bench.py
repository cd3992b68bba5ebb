"""`dealflow bench` works end to end on the local stack (a small run; no speed is asserted)."""

from __future__ import annotations

import subprocess
import sys

from processors.config import Settings
from tests.integration.support import REPO_ROOT, settings_env


def test_a_small_benchmark_prints_every_figure(base_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "processors.cli", "bench", "--messages", "800", "--latency-rate", "20",
         "--latency-rate", "40", "--latency-seconds", "2", "--backtest-messages", "1500", "--state-deals", "2000",
         "--recovery-deals", "3000"],
        cwd=REPO_ROOT, env=settings_env(base_settings), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    rows = ["machine", "baseline: raw aiokafka consume (800 msgs)", "backtest, pure core (1,500 msgs)",
            "worker state, 2,000 open deals", "batch worker state recovery, 3,000 deals"]
    for runtime in ("faust", "batch"):  # both runtimes, measured in the same run
        rows += [f"dealflow end to end, 1 worker ({runtime})", *(
            f"latency ({runtime}) produce -> {to} at {rate} msg/s"
            for rate in (20, 40) for to in ("alert", "PostgreSQL row"))]
    for row in rows:
        assert f"| {row}" in table, row
    assert "% of baseline" in table and "the worker alone" in table and "p99" in table and "peak RSS" in table
    assert "3,000 deals: processing after" in table
