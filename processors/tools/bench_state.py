"""The bench's state measurement: memory of many open deals in state, and one deadline round.

``state_memory`` runs ``python -m processors.tools.bench_state --deals N`` in a fresh process:
it builds one open deal, holds ``N`` copies of its JSON state as the worker's table does, with
one deadline each, and prints one JSON line with its own peak memory and the cost of popping
the due deadlines. This module imports only the pure core, so the child's figures are its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from processors.core import DealState, next_wake, process
from processors.core.deadlines import DeadlineIndex
from processors.handling.serde import state_to_json
from processors.playbooks.loader import load_playbook
from schemas.inbound import Inbound, parse_inbound

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def msg(i: int, type_: str, **fields: Any) -> Inbound:
    """Inbound message ``i`` (``i`` hours after T0) for the template deal."""
    return parse_inbound(json.dumps({"event_id": f"e{i}", "type": type_, "deal_id": "TEMPLATE",
                                     "occurred_at": (T0 + timedelta(hours=i)).isoformat(), **fields}))


def template_deal() -> tuple[str, datetime]:
    """The JSON state of one open deal (deal id ``TEMPLATE``) and its next deadline."""
    playbook = load_playbook(None)
    state = DealState(deal_id="TEMPLATE")
    for m in [msg(0, "deal.create", name="Deal", owner_id="rep-001", amount=25000, close_date="2026-06-30"),
              msg(1, "stakeholder.added", contact_id="c1", role="economic_buyer"),
              msg(2, "email.sent", contact_id="c1"), msg(3, "email.replied", contact_id="c1"),
              msg(4, "meeting.held", duration_minutes=45, attendees=[{"contact_id": "c1"}, {"contact_id": "c2"}]),
              msg(5, "evidence.record", criterion="budget_confirmed", recorded_by="rep",
                  evidence={"kind": "email", "reference": "crm/1"})]:
        _, state = process(m, state, playbook, m.occurred_at)
    due = next_wake(state, playbook)
    if due is None:
        raise RuntimeError("the template deal has no deadline")
    return state_to_json(state), due


def high_water_kib() -> int:
    """This process's own peak RSS in KiB (getrusage's survives exec: the forking parent's would show)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def round_cost(index: DeadlineIndex, due: datetime, n_due: int) -> tuple[int, float]:
    """Pop the deadlines up to the ``n_due``-th one; (how many were due, seconds it took).

    The popped deals are scheduled again a year later, as a round leaves them.
    """
    started = time.perf_counter()
    popped = index.pop_due(due + timedelta(seconds=n_due - 1))
    cost = time.perf_counter() - started
    for moment, deal_id in popped:
        index.schedule(deal_id, moment + timedelta(days=365))
    return len(popped), cost


def measure(deals: int) -> dict[str, Any]:
    """Hold ``deals`` open deals and their deadlines; the figures ``main`` prints."""
    template, due = template_deal()
    base = high_water_kib()
    table: dict[str, str] = {}
    index = DeadlineIndex()
    for n in range(deals):
        deal_id = f"deal-{n:08d}"
        table[deal_id] = template.replace("TEMPLATE", deal_id)
        index.schedule(deal_id, due + timedelta(seconds=n))
    peak = high_water_kib()
    small, large = round_cost(index, due, 10), round_cost(index, due, 1000)
    return {"state_bytes": len(template), "peak_mib": peak / 1024, "base_mib": base / 1024,
            "round_10": small, "round_1000": large}


def state_memory(deals: int) -> str:
    """Peak memory of a process holding ``deals`` open deals as the worker's table does, and the deadline round."""
    command = [sys.executable, "-m", "processors.tools.bench_state", "--deals", str(deals)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    (n10, t10), (n1000, t1000) = data["round_10"], data["round_1000"]
    return (f"peak RSS {data['peak_mib']:,.0f} MiB for {deals:,} deals ({data['state_bytes']} B of JSON state each); "
            f"deadline round: {n10} due in {t10 * 1000:.2f} ms, {n1000} due in {t1000 * 1000:.2f} ms")


def main(argv: list[str] | None = None) -> int:
    """Measure in this process and print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deals", type=int, default=1_000_000, help="open deals to hold (default 1,000,000)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.deals)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
