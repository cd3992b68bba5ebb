"""The shells' metrics count what was handled, twice as much for the same outcome twice, and a tally
gathered over many records adds the same as counting each at once."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from processors.core import DealState
from processors.handling.records import Origin, handle_record
from processors.observability import metrics
from processors.observability.instrument import Tally, observe_all, observe_outcome
from processors.playbooks.loader import default_playbook
from tests.builders import at, change_message, create_message


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_follow_each_outcome() -> None:
    _counters_follow_each_outcome(None)


def test_a_tally_counts_the_same_once_flushed() -> None:
    _counters_follow_each_outcome(Tally())


def _counters_follow_each_outcome(tally: Tally | None) -> None:
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
    latency = "dealflow_processing_latency_seconds_count"
    observed = _sample(latency)
    for _ in range(2):
        if tally is None:
            observe_outcome(created, "commands", playbook, at(0))
            observe_outcome(refused, "commands", playbook, at(1))
        else:
            observe_outcome(created, "commands", playbook, at(0), tally)
            observe_outcome(refused, "commands", playbook, at(1), tally)
    if tally is not None:
        assert _sample(consumed[0], **consumed[1]) == before[0]  # nothing added before the flush
        tally.flush()
        tally.flush()  # a second flush adds nothing more
    assert _sample(latency) == observed + 4
    assert _sample(consumed[0], **consumed[1]) == before[0] + 2
    assert _sample(gate[0], **gate[1]) == before[1] + 2


def test_observing_many_at_once_fills_the_buckets_as_one_at_a_time() -> None:
    values = [0.0, 0.004, 0.005, 0.0051, 0.7, 1.0, 59.9, 86_400.0, 86_401.0, 1e9, 0.005]
    registry = CollectorRegistry()
    one = Histogram("one_at_a_time", "h", buckets=metrics.LATENCY_BUCKETS, registry=registry)
    many = Histogram("many_at_once", "h", buckets=metrics.LATENCY_BUCKETS, registry=registry)
    for value in values:
        one.observe(value)
    observe_all(many, values[:4])
    observe_all(many, values[4:])
    def buckets(name: str) -> list[tuple[str, float]]:
        return [(sample.labels["le"], sample.value) for family in registry.collect() if family.name == name
                for sample in family.samples if sample.name.endswith("_bucket")]

    assert len(buckets("many_at_once")) == len(metrics.LATENCY_BUCKETS) + 1
    assert buckets("many_at_once") == buckets("one_at_a_time")
    assert registry.get_sample_value("many_at_once_count") == len(values)
    assert registry.get_sample_value("many_at_once_sum") == pytest.approx(sum(values))
