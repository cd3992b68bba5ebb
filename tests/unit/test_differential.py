"""The core's answers stay the same: a simulated stream's alerts and facts, byte for byte.

The digests were recorded from the core before its data-layout rewrite (issue 14) and
re-recorded for the alert lifecycle of issue 16 (alerts carry kind, team, updated_at, ...;
one open alert per condition; momentum once per window; activity and [G6] redefined; the
engagement facts list the momentum they reported), and for issue 17 (the simulator's lost deals
take their reason from the playbook's loss_reasons, so the input changed; alerts carry manager,
addressed_to and coaching), and for issue 18 (the simulator's outcomes follow from hidden buyer
traits, so the input changed; the core did not). A change
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
INPUT_SHA256 = "7716c32c4495a80697deb4734b62be2d46ab6ce4f1d5c4e8c93ef8cc22ac2c7b"
ALERTS_SHA256 = "ec0769c0df56755d8769e83c99330cdf4ae101d445587b2151a98abd88fc2f3d"
FACTS_SHA256 = "ce7cd70c08d0657ac2311de41cdd53ac98e86da7380d1207a21eaf02c662a45c"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_simulated_stream_outputs_are_byte_identical() -> None:
    playbook = default_playbook()
    lines = [json.dumps(m) for m in simulate(SETTINGS, playbook, END)]
    assert _digest("\n".join(lines).encode()) == INPUT_SHA256, "the simulator changed: re-record all three digests"
    alerts, facts = io.BytesIO(), io.BytesIO()
    run_backtest(lines, playbook, alerts, facts)
    assert (_digest(alerts.getvalue()), _digest(facts.getvalue())) == (ALERTS_SHA256, FACTS_SHA256)
