"""`dealflow soak` works end to end on the local stack (a short run; no figure is asserted)."""

from __future__ import annotations

import subprocess
import sys

from processors.config import Settings
from tests.integration.support import REPO_ROOT, settings_env


def test_a_short_soak_samples_memory_and_lag_and_summarises_them(base_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "processors.cli", "soak", "--minutes", "0.25", "--rate", "20", "--interval", "5",
         "--warmup", "200"],
        cwd=REPO_ROOT, env=settings_env(base_settings), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    samples = [line for line in result.stderr.splitlines() if "worker RSS" in line and "produced" in line]
    assert len(samples) >= 3, result.stderr[-3000:]  # every 5 s over 15 s, and one at the end
    for row in ("offered load", "deals seen", "worker RSS (process tree)", "second-half growth",
                "worker consumer lag", "projector lag"):
        assert f"| {row} |" in result.stdout, row
    assert "(300 msgs, after the warm-up)" in result.stdout  # 15 s at 20 msg/s
