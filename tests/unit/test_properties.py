"""Properties over random command sequences: gates hold, and facts rebuild the state."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import replay
from processors.core.gates import missing_criteria
from tests.builders import DISCOVERY, NEGOTIATION, PROPOSAL, QUALIFICATION, Deal, change, create, evidence, msg
from tests.builders import next_step as next_step_msg

STAGES = ["discovery", "qualification", "proposal", "negotiation", "closing", "nurture", "won"]
CRITERIA = DISCOVERY + QUALIFICATION + PROPOSAL + NEGOTIATION + ["contract_signed", "made_up"]
REASONS = [None, "timeline_extended", "stakeholder_changed", "nope"]


def _command(kind: str, arg: int, day: float):  # type: ignore[no-untyped-def]
    if kind == "create":
        return create(day, stage=[None, "discovery", "proposal", "nurture"][arg % 4])
    if kind == "evidence":
        return evidence(CRITERIA[arg % len(CRITERIA)], day)
    if kind == "change":
        return change(STAGES[arg % len(STAGES)], day, reason=REASONS[arg % len(REASONS)])
    if kind == "next_step":
        return next_step_msg(day)
    if kind == "stakeholder":
        return msg("stakeholder.added", day, contact_id=f"c{arg % 3}", role=["economic_buyer", "user"][arg % 2])
    if kind == "close":
        return msg("deal.close", day, outcome=["won", "lost"][arg % 2])
    return msg("deal.disqualify", day, reason=["chose_competitor", "bad"][arg % 2])


commands = st.lists(
    st.tuples(st.sampled_from(["create", "evidence", "evidence", "evidence", "change", "change", "next_step",
                               "stakeholder", "close", "disqualify"]),
              st.integers(0, 100), st.floats(0, 60, allow_nan=False)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(commands)
def test_no_deal_ever_advances_past_an_unmet_gate(sequence: list[tuple[str, int, float]]) -> None:
    deal = Deal()
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        before = deal.state
        decision = deal.send(_command(kind, arg, day))
        for fact in decision.facts:
            if fact.type == "stage.advanced":
                stages = deal.playbook.stage_names
                target = stages.index(fact.to_stage)
                start = stages.index(fact.from_stage) if fact.from_stage in stages else 0
                assert missing_criteria(before, deal.playbook, stages[start:target]) == []
            if fact.type == "deal.won":
                assert before.stage == "closing" and "contract_signed" in before.satisfied()


@settings(max_examples=150, deadline=None)
@given(commands)
def test_evolve_over_the_emitted_facts_reproduces_the_state(sequence: list[tuple[str, int, float]]) -> None:
    deal = Deal()
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        deal.send(_command(kind, arg, day))
    ledger = {"open_alerts": {}, "episodes": {}, "evaluated_at": None,  # the detectors' own bookkeeping
              "wake": None, "wake_known": False}
    assert replay("d1", deal.facts()) == deal.state.updated(ledger)


@settings(max_examples=60, deadline=None)
@given(commands)
def test_replaying_every_message_twice_changes_nothing(sequence: list[tuple[str, int, float]]) -> None:
    once, twice = Deal(), Deal()
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        message = _command(kind, arg, day)
        once.send(message)
        twice.send(message, message)
    assert once.state == twice.state
    assert [f.event_id for f in once.facts()] == [f.event_id for f in twice.facts()]
