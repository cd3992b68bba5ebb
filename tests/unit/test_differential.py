"""The core's answers stay the same: a simulated stream's alerts and facts, byte for byte.

The digests were recorded from the core before its data-layout rewrite (issue 14) and
re-recorded for the alert lifecycle of issue 16 (alerts carry kind, team, updated_at, ...;
one open alert per condition; momentum once per window; activity and [G6] redefined; the
engagement facts list the momentum they reported), and for issue 17 (the simulator's lost deals
take their reason from the playbook's loss_reasons, so the input changed; alerts carry manager,
addressed_to and coaching). A change
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
INPUT_SHA256 = "ea8b2edd549a4395432e6b1e76a5d58b3c3331e646299fe804f250ee513cd3f3"
ALERTS_SHA256 = "84e23a009ef6c1c32ba0a9b9175b4cb4d62ea18df0cd456a4dcd9f4f4bab8b1b"
FACTS_SHA256 = "be7690ed3440b8021b8dc2723f63f350c247a5f6f70f8c9dd123d45ba81c4c30"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_simulated_stream_outputs_are_byte_identical() -> None:
    playbook = default_playbook()
    lines = [json.dumps(m) for m in simulate(SETTINGS, playbook, END)]
    assert _digest("\n".join(lines).encode()) == INPUT_SHA256, "the simulator changed: re-record all three digests"
    alerts, facts = io.BytesIO(), io.BytesIO()
    run_backtest(lines, playbook, alerts, facts)
    assert (_digest(alerts.getvalue()), _digest(facts.getvalue())) == (ALERTS_SHA256, FACTS_SHA256)
