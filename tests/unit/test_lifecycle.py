"""Regression, nurture, disqualification, closing, imports and refusals ([R1], [R2])."""

from __future__ import annotations

from tests.builders import (
    DISCOVERY,
    NEGOTIATION,
    PROPOSAL,
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


def test_regression_needs_a_reason() -> None:
    deal = deal_in("qualification")
    decision = deal.send(change("discovery"))
    assert decision.facts[0].reason == "reason_required"
    assert deal.state.stage == "qualification"


def test_regression_with_an_unknown_reason_is_refused() -> None:
    deal = deal_in("qualification")
    assert deal.send(change("discovery", reason="felt_like_it")).facts[0].reason == "invalid_reason"


def test_regression_invalidates_the_target_stage_and_every_later_stage() -> None:
    deal = deal_in("proposal")
    deal.send(evidence("scope_agreed"))
    decision = deal.send(change("qualification", 5, reason="decision_maker_pushback"))
    assert types(decision)[0] == "stage.regressed"
    regressed = decision.facts[0]
    assert (regressed.from_stage, regressed.to_stage, regressed.reason) == (
        "proposal", "qualification", "decision_maker_pushback")
    invalidated = [f.criterion for f in decision.facts if f.type == "evidence.invalidated"]
    assert invalidated == [*QUALIFICATION, "scope_agreed"]
    assert deal.state.satisfied() == set(DISCOVERY)
    # The state keeps one entry per satisfied criterion; the invalidated ones live on in the facts.
    assert sorted(e.criterion for e in deal.state.evidence) == sorted(DISCOVERY)


def test_after_regression_the_deal_must_earn_the_stage_again() -> None:
    deal = deal_in("proposal")
    deal.send(change("qualification", reason="requirements_changed"))
    refused = deal.send(change("proposal"))
    assert refused.facts[0].missing_criteria == QUALIFICATION
    deal.send(*[evidence(c) for c in QUALIFICATION])
    assert types(deal.send(change("proposal"))) == ["stage.advanced"]


def test_nurture_needs_a_reason_and_keeps_criteria() -> None:
    deal = deal_in("qualification")
    assert deal.send(change("nurture")).facts[0].reason == "reason_required"
    decision = deal.send(change("nurture", reason="timeline_extended"))
    assert types(decision) == ["deal.nurtured"]
    assert deal.state.stage == "nurture" and deal.state.satisfied() == set(DISCOVERY)


def test_leaving_nurture_is_an_advance_that_needs_criteria_of_all_earlier_stages() -> None:
    deal = deal_in("qualification")
    deal.send(change("nurture", reason="timeline_extended"))
    refused = deal.send(change("proposal"))
    assert refused.facts[0].missing_criteria == QUALIFICATION
    back = deal.send(change("qualification"))
    assert types(back) == ["stage.advanced"] and back.facts[0].from_stage == "nurture"


def test_disqualify_needs_a_known_reason_and_works_from_nurture() -> None:
    deal = deal_in("qualification")
    assert deal.send(msg("deal.disqualify", reason="meh")).facts[0].reason == "invalid_reason"
    deal.send(change("nurture", reason="timeline_extended"))
    decision = deal.send(msg("deal.disqualify", reason="chose_competitor"))
    assert types(decision) == ["deal.disqualified"]
    assert deal.state.status == "disqualified"


def test_lost_is_allowed_from_any_open_stage_and_nurture_with_a_loss_reason() -> None:
    for stage in ("discovery", "qualification"):
        deal = deal_in(stage)
        assert types(deal.send(msg("deal.close", outcome="lost", reason="price"))) == ["deal.lost"]
    deal = deal_in("qualification")
    deal.send(change("nurture", reason="timeline_extended"))
    assert types(deal.send(msg("deal.close", outcome="lost", reason="budget_cut"))) == ["deal.lost"]


def test_a_loss_needs_a_reason_from_the_playbook() -> None:
    deal = deal_in("qualification")
    for reason, refusal in ((None, "reason_required"), ("we gave up", "invalid_reason")):
        decision = deal.send(msg("deal.close", outcome="lost", **({"reason": reason} if reason else {})))
        assert [(f.type, f.reason) for f in decision.facts] == [("command.rejected", refusal)]
    assert deal.state.status == "open"


def test_won_only_from_closing_and_only_with_contract_signed() -> None:
    deal = deal_in("negotiation")
    assert deal.send(msg("deal.close", outcome="won")).facts[0].reason == "invalid_transition"
    deal = deal_in("closing")
    refused = deal.send(msg("deal.close", outcome="won"))
    assert refused.facts[0].reason == "exit_criteria_unmet"
    assert refused.facts[0].missing_criteria == ["contract_signed"]
    deal.send(evidence("contract_signed"))
    assert types(deal.send(msg("deal.close", outcome="won"))) == ["deal.won"]
    assert deal.state.status == "won"


def test_import_into_a_stage_checks_no_gate_and_assumes_no_criterion() -> None:
    deal = Deal()
    decision = deal.send(create(stage="negotiation"))
    assert types(decision) == ["deal.created"] and decision.facts[0].imported
    assert deal.state.stage == "negotiation" and deal.state.satisfied() == set()
    [alert] = decision.alerts
    assert alert.type == "fields.missing" and alert.details["missing_fields"] == ["next_step"]
    refused = deal.send(next_step(), change("closing"))
    assert refused.facts[0].missing_criteria == NEGOTIATION


def test_import_into_the_first_stage_with_all_fields_raises_nothing() -> None:
    assert Deal().send(create(stage="discovery")).alerts == []


def test_commands_on_unknown_deals_are_refused() -> None:
    for message in (change("qualification"), evidence("budget_confirmed"), next_step(),
                    msg("deal.disqualify", reason="cannot_afford"), msg("deal.close", outcome="lost", reason="price")):
        decision = Deal().send(message)
        assert decision.facts[0].reason == "unknown_deal", message.type


def test_commands_on_closed_deals_are_refused() -> None:
    deal = deal_in("discovery")
    deal.send(msg("deal.close", outcome="lost", reason="price"))
    for message in (change("qualification"), evidence("budget_confirmed"), next_step(),
                    msg("deal.close", outcome="won")):
        assert deal.send(message).facts[0].reason == "deal_closed", message.type


def test_second_create_and_change_to_current_stage_are_refused() -> None:
    deal = deal_in("discovery")
    assert deal.send(create()).facts[0].reason == "already_exists"
    assert deal.send(change("discovery")).facts[0].reason == "invalid_transition"
    assert deal.send(change("won")).facts[0].reason == "invalid_transition"


def test_repeated_event_id_changes_nothing() -> None:
    deal = Deal()
    first = create(event_id="same")
    deal.send(first)
    before = deal.state
    decision = deal.send(create(event_id="same"))
    assert decision.facts == [] and decision.alerts == [] and deal.state == before


def test_update_records_old_and_new_values() -> None:
    deal = deal_in("discovery")
    decision = deal.send(msg("deal.update", close_date="2026-09-30", amount=1000))
    [fact] = decision.facts
    assert fact.changes["close_date"].old == "2026-06-30" and fact.changes["close_date"].new == "2026-09-30"
    assert "amount" not in fact.changes  # unchanged
    assert deal.state.close_date.isoformat() == "2026-09-30"


def test_fact_and_alert_ids_are_deterministic() -> None:
    one, two = Deal(), Deal()
    for deal in (one, two):
        deal.send(create(event_id="c"), change("qualification", event_id="x"))
    assert [f.event_id for f in one.facts()] == [f.event_id for f in two.facts()]
    assert [a.alert_id for a in one.alerts()] == [a.alert_id for a in two.alerts()]
    assert all(f.caused_by in ("c", "x") for f in one.facts())


def test_every_stage_change_carries_from_to_and_days() -> None:
    deal = deal_in("negotiation")
    deal.send(*[evidence(c) for c in NEGOTIATION], change("closing", 10))
    deal.send(change("proposal", 12, reason="stakeholder_changed"))
    changes = [(f.type, f.from_stage, f.to_stage, f.days_in_from_stage) for f in deal.facts()
               if f.type in ("stage.advanced", "stage.regressed")]
    assert changes[-2:] == [("stage.advanced", "negotiation", "closing", 10.0),
                            ("stage.regressed", "closing", "proposal", 2.0)]
    invalidated = {f.criterion for f in deal.decisions[-1].facts if f.type == "evidence.invalidated"}
    assert invalidated == set(PROPOSAL) | set(NEGOTIATION)


def test_a_deal_state_stays_bounded_however_many_messages_it_sees() -> None:
    """Only the latest SEEN_WINDOW message ids are kept; a closed deal drops its detector history."""
    from processors.core.seen_ids import SEEN_WINDOW

    deal = deal_in("proposal")
    for n in range(SEEN_WINDOW + 50):
        deal.send(evidence("scope_agreed", n % 20 + 1, event_id=f"again-{n}"))
    assert len(deal.state.seen) == SEEN_WINDOW and deal.state.seen[-1] == f"again-{SEEN_WINDOW + 49}"
    assert [e.criterion for e in deal.state.evidence].count("scope_agreed") == 1
    assert deal.send(evidence("scope_agreed", 3, event_id=f"again-{SEEN_WINDOW + 49}")).facts == []  # a duplicate
    deal.send(msg("deal.close", 21, outcome="lost", reason="timing"))
    assert deal.state.status == "lost"
    assert (deal.state.evidence, deal.state.buyer_engagements, deal.state.response_times) == ([], [], [])


def test_a_change_to_the_current_stage_is_recorded_without_a_notification() -> None:
    deal = deal_in("qualification")
    decision = deal.send(change("qualification", 1))
    assert [(f.type, f.reason) for f in decision.facts] == [("command.rejected", "invalid_transition")]
    assert decision.alerts == []
