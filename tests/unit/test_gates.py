"""Evidence-based gates ([P1], [P2], [P4], [T1]): advancing, skipping and refusing."""

from __future__ import annotations

from tests.builders import (
    DISCOVERY,
    QUALIFICATION,
    Deal,
    change,
    create,
    deal_in,
    evidence,
    msg,
    next_step,
    types,
)


def test_advance_refused_lists_every_missing_criterion_and_field() -> None:
    deal = Deal()
    deal.send(create(), evidence("budget_confirmed"))
    decision = deal.send(change("qualification", 1))
    assert types(decision) == ["command.rejected"]
    fact = decision.facts[0]
    assert fact.reason == "exit_criteria_unmet"
    assert fact.missing_criteria == ["decision_maker_identified", "pain_documented", "timeline_committed"]
    assert fact.missing_fields == ["next_step"]
    [alert] = decision.alerts
    assert alert.type == "gate.rejected" and alert.severity == "warning" and alert.status == "raised"
    assert alert.details["reason"] == "exit_criteria_unmet"
    assert alert.details["requested"] == {"type": "stage.change", "target": "qualification"}
    assert alert.details["missing_criteria"] == fact.missing_criteria
    assert alert.details["missing_fields"] == ["next_step"]
    assert deal.state.stage == "discovery"


def test_advance_refused_for_fields_only_says_missing_fields() -> None:
    deal = Deal()
    deal.send(create(), *[evidence(c) for c in DISCOVERY])
    decision = deal.send(change("qualification"))
    assert decision.facts[0].reason == "missing_fields"
    assert decision.facts[0].missing_criteria == []
    assert decision.facts[0].missing_fields == ["next_step"]


def test_advance_accepted_with_evidence_and_fields() -> None:
    deal = Deal()
    deal.send(create(), next_step(), *[evidence(c) for c in DISCOVERY])
    decision = deal.send(change("qualification", 3.5))
    assert types(decision) == ["stage.advanced"]
    fact = decision.facts[0]
    assert (fact.from_stage, fact.to_stage, fact.days_in_from_stage) == ("discovery", "qualification", 3.5)
    assert deal.state.stage == "qualification"


def test_skipping_a_stage_needs_the_criteria_of_every_skipped_stage() -> None:
    deal = Deal()
    deal.send(create(), next_step(), *[evidence(c) for c in DISCOVERY])
    decision = deal.send(change("proposal"))
    assert decision.facts[0].reason == "exit_criteria_unmet"
    assert decision.facts[0].missing_criteria == QUALIFICATION
    deal.send(*[evidence(c) for c in QUALIFICATION])
    assert types(deal.send(change("proposal"))) == ["stage.advanced"]


def test_required_fields_are_checked_on_the_deal_before_the_move() -> None:
    deal = Deal()
    deal.send(create(), *[evidence(c) for c in DISCOVERY])
    assert deal.send(change("qualification")).facts[0].missing_fields == ["next_step"]


def test_advancing_sets_the_next_step_from_the_template() -> None:
    deal = Deal()
    deal.send(create(), next_step(), *[evidence(c) for c in DISCOVERY])
    fact = deal.send(change("qualification", 2)).facts[0]
    assert fact.next_step.description == "Confirm the economic buyer and the evaluation criteria"
    assert fact.next_step.due_date.isoformat() == "2026-01-14"  # T0 + 2 days + 7 days
    assert deal.state.next_step == fact.next_step


def test_entering_a_late_stage_notifies_the_manager_and_asks_for_stakeholder_mapping() -> None:
    deal = deal_in("qualification")
    deal.send(*[evidence(c) for c in QUALIFICATION])
    decision = deal.send(change("proposal"))
    assert sorted(a.type for a in decision.alerts) == ["deal.late_stage_entered", "stakeholders.review_requested"]
    assert all(a.severity == "info" and a.stage == "proposal" for a in decision.alerts)


def test_entering_closing_is_late_but_asks_for_no_stakeholder_review() -> None:
    deal = deal_in("closing")
    assert [a.type for a in deal.decisions[-1].alerts] == ["deal.late_stage_entered"]


def test_qualification_entry_raises_no_late_stage_alert() -> None:
    deal = deal_in("qualification")
    assert deal.decisions[-1].alerts == []


def test_engagement_satisfies_decision_maker_identified() -> None:
    deal = Deal()
    deal.send(create())
    decision = deal.send(msg("stakeholder.added", contact_id="c1", role="decision_maker"))
    assert types(decision) == ["engagement.recorded", "evidence.recorded"]
    assert decision.facts[1].criterion == "decision_maker_identified"
    assert decision.facts[1].source_event_id == decision.facts[0].caused_by


def test_meeting_with_economic_buyer_satisfies_economic_buyer_engaged() -> None:
    deal = Deal()
    deal.send(create())
    decision = deal.send(msg("meeting.held", duration_minutes=30,
                             attendees=[{"contact_id": "c9", "role": "economic_buyer"}]))
    assert [f.criterion for f in decision.facts[1:]] == ["economic_buyer_engaged"]


def test_reply_from_a_contact_added_as_economic_buyer_satisfies_economic_buyer_engaged() -> None:
    deal = Deal()
    deal.send(create(), msg("stakeholder.added", contact_id="cfo", role="economic_buyer"))
    assert "economic_buyer_engaged" not in deal.state.satisfied()
    deal.send(msg("email.replied", contact_id="cfo"))
    assert "economic_buyer_engaged" in deal.state.satisfied()
    other = deal.send(msg("email.replied", contact_id="someone-else"))
    assert types(other) == ["engagement.recorded"]


def test_engagement_before_the_deal_exists_counts_once_it_is_created() -> None:
    deal = Deal()
    early = deal.send(msg("stakeholder.added", contact_id="c1", role="economic_buyer"))
    assert types(early) == ["engagement.recorded"]
    decision = deal.send(create(1))
    assert types(decision) == ["deal.created", "evidence.recorded"]
    assert decision.facts[1].criterion == "decision_maker_identified"


def test_evidence_for_an_unknown_criterion_is_refused() -> None:
    deal = Deal()
    deal.send(create())
    decision = deal.send(evidence("vibes_are_good"))
    assert decision.facts[0].reason == "unknown_criterion"
    assert decision.alerts[0].details["reason"] == "unknown_criterion"


def test_evidence_is_kept_with_who_and_when() -> None:
    deal = Deal()
    deal.send(create())
    [fact] = deal.send(evidence("budget_confirmed", 2)).facts
    assert (fact.criterion, fact.evidence.kind, fact.evidence.reference, fact.recorded_by) == (
        "budget_confirmed", "meeting_notes", "notes/budget_confirmed", "rep1")
    assert fact.occurred_at.day == 7 and fact.source_event_id == fact.caused_by
    [entry] = deal.state.evidence
    assert (entry.criterion, entry.valid, entry.recorded_at) == ("budget_confirmed", True, fact.occurred_at)
