"""The core's answers stay the same: a simulated stream's alerts and facts, byte for byte.

The digests were recorded from the core before its data-layout rewrite (issue 14). A change
that alters any answer fails here; an intended change of answers updates them in its own
commit, saying which answers changed and why. The input's own digest tells a simulator
change apart from a core change.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone

from processors.playbooks.loader import default_playbook
from processors.replay.backtest import run_backtest
from processors.tools.simulate import SimulationSettings, simulate

END = datetime(2026, 12, 1, tzinfo=timezone.utc)
SETTINGS = SimulationSettings(deals=150, days=120, seed=11, end=END)
INPUT_SHA256 = "236f03bfdfc5b09414e13478d568b6b281d67b5717ea0fcfc149b8c901114478"
ALERTS_SHA256 = "d07915e0d611fc4f7c59e14d0a4a08c926f99dcf7fe013c224d9261eb83da40f"
FACTS_SHA256 = "97e449b4361635e4bd9820f0d48108b9d2c55763b5c1a6882fd307c4c999fcb8"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_simulated_stream_outputs_are_byte_identical() -> None:
    playbook = default_playbook()
    lines = [json.dumps(m) for m in simulate(SETTINGS, playbook, END)]
    assert _digest("\n".join(lines).encode()) == INPUT_SHA256, "the simulator changed: re-record all three digests"
    alerts, facts = io.BytesIO(), io.BytesIO()
    run_backtest(lines, playbook, alerts, facts)
    assert (_digest(alerts.getvalue()), _digest(facts.getvalue())) == (ALERTS_SHA256, FACTS_SHA256)
