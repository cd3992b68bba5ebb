"""The shells' metrics count what was handled, twice as much for the same outcome twice."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from processors.core import DealState
from processors.handling.records import Origin, handle_record
from processors.observability.instrument import observe_outcome
from processors.playbooks.loader import default_playbook
from tests.builders import at, change_message, create_message


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_follow_each_outcome() -> None:
    playbook = default_playbook()
    states: dict[str, DealState] = {}

    def load(deal_id: str) -> DealState:
        return states.get(deal_id) or DealState(deal_id=deal_id)

    created = handle_record(json.dumps(create_message(0)).encode(), b"d1", "commands", Origin("c"), load,
                            playbook, at(0))
    assert created.state is not None
    states["d1"] = created.state
    refused = handle_record(json.dumps(change_message("proposal", 1)).encode(), b"d1", "commands", Origin("c"),
                            load, playbook, at(1))
    consumed = ("dealflow_messages_consumed_total", {"topic": "commands", "type": "deal.create"})
    gate = ("dealflow_gate_decisions_total", {"from_stage": "discovery", "to_stage": "proposal",
                                              "outcome": "refused"})
    before = _sample(consumed[0], **consumed[1]), _sample(gate[0], **gate[1])
    for _ in range(2):
        observe_outcome(created, "commands", playbook, at(0))
        observe_outcome(refused, "commands", playbook, at(1))
    assert _sample(consumed[0], **consumed[1]) == before[0] + 2
    assert _sample(gate[0], **gate[1]) == before[1] + 2
