"""The core's answers stay the same: a simulated stream's alerts and facts, byte for byte.

The digests were recorded from the core before its data-layout rewrite (issue 14) and
re-recorded for the alert lifecycle of issue 16 (alerts carry kind, team, updated_at, ...;
one open alert per condition; momentum once per window; activity and [G6] redefined; the
engagement facts list the momentum they reported). A change
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
ALERTS_SHA256 = "5909c90e0a06c20d9a4bdb6576dc55dec5c4e1cf628d557f0175cdc30e87db40"
FACTS_SHA256 = "a17bb3abdd90bb12c6814ca4d91ef53dce0140dd941f1b4a6777529e349add7d"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_simulated_stream_outputs_are_byte_identical() -> None:
    playbook = default_playbook()
    lines = [json.dumps(m) for m in simulate(SETTINGS, playbook, END)]
    assert _digest("\n".join(lines).encode()) == INPUT_SHA256, "the simulator changed: re-record all three digests"
    alerts, facts = io.BytesIO(), io.BytesIO()
    run_backtest(lines, playbook, alerts, facts)
    assert (_digest(alerts.getvalue()), _digest(facts.getvalue())) == (ALERTS_SHA256, FACTS_SHA256)
