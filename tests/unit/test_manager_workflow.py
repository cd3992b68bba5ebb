"""The manager's workflow (issue 17): blockers with owners, interventions, [G5] nurture, coaching, addressing."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from processors.core import replay
from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, default_playbook, load_playbook
from schemas.alerts import NOTIFICATION_TYPES
from tests.builders import QUALIFICATION, Deal, create, deal_in, evidence, msg, next_step

CONDITION_TYPES = {"deal.stalled", "deal.inactive", "deal.ghosting", "deal.single_threaded",
                   "deal.economic_buyer_silent", "next_step.overdue", "close_date.passed", "fields.missing",
                   "velocity.dropped", "blocker.overdue", "deal.parked_too_long"}


def only(alerts: list[Any], type_: str) -> list[Any]:
    return [a for a in alerts if a.type == type_]


def _blocker(day: float, blocker_id: str = "b1", due: str = "2026-01-20", **fields: Any) -> Any:
    return msg("blocker.record", day, **({"blocker_id": blocker_id, "code": "stakeholder_access",
                                           "stall_point": "economic_buyer_unknown",
                                           "description": "The CFO will not take our calls", "identified_by": "mgr-eve",
                                           "resolution": {"owner": "rep-ana", "action": "Ask the champion for an intro",
                                                          "due_date": due}} | fields))


# -- blockers -----------------------------------------------------------------------------------
def test_a_blocker_is_identified_goes_overdue_and_is_resolved() -> None:
    deal = Deal()
    deal.send(create(), next_step())
    [identified] = deal.send(_blocker(2)).facts
    got = (identified.type, identified.code, identified.stall_point, identified.stage, identified.resolution_owner)
    assert got == ("blocker.identified", "stakeholder_access", "economic_buyer_unknown", "discovery", "rep-ana")
    end_of_due_day = datetime(2026, 1, 21, tzinfo=timezone.utc)  # due 2026-01-20: overdue at its end
    assert only(deal.tick(15.6), "blocker.overdue") == []
    [overdue] = only(deal.tick(16), "blocker.overdue")
    assert (overdue.kind, overdue.raised_at, overdue.details["blocker_id"]) == ("condition", end_of_due_day, "b1")
    assert overdue.coaching is not None and overdue.coaching.next_best_action
    resolved = deal.send(msg("blocker.resolve", 17, blocker_id="b1", outcome="resolved", resolved_by="rep-ana"))
    [fact] = resolved.facts
    assert (fact.type, fact.code, fact.days_open) == ("blocker.resolved", "stakeholder_access", 15.0)  # days 2-17
    assert [(a.alert_id, a.status) for a in only(resolved.alerts, "blocker.overdue")] == [(overdue.alert_id,
                                                                                          "resolved")]
    assert deal.state.blockers == {}


def test_two_open_blockers_are_two_conditions() -> None:
    deal = Deal()
    deal.send(create(), next_step(), _blocker(1, "b1", "2026-01-10"), _blocker(1, "b2", "2026-01-12",
                                                                                code="budget_uncertainty"))
    overdue = only(deal.tick(10), "blocker.overdue")
    assert sorted(a.details["blocker_id"] for a in overdue) == ["b1", "b2"]
    assert len({a.alert_id for a in overdue}) == 2


def test_blocker_commands_are_refused_with_reasons_and_no_notification() -> None:
    deal = Deal()
    deal.send(create(), _blocker(1))
    cases = [(_blocker(2, "b2", code="bad_luck"), "unknown_blocker_code"),
             (_blocker(2, "b3", stall_point="moon_phase"), "unknown_stall_point"),
             (_blocker(2, "b1"), "blocker_exists"),
             (msg("blocker.resolve", 2, blocker_id="nope", outcome="resolved", resolved_by="x"), "unknown_blocker"),
             (msg("blocker.record", 2, deal_id="ghost", blocker_id="b", code="risk_aversion", description="d",
                  identified_by="x", resolution={"owner": "o", "action": "a", "due_date": "2026-02-01"}),
              "unknown_deal")]
    for message, reason in cases:
        decision = (deal if message.deal_id == "d1" else Deal(deal_id="ghost")).send(message)
        assert [(f.type, f.reason) for f in decision.facts] == [("command.rejected", reason)]
        assert decision.alerts == []


def test_replaying_the_facts_rebuilds_the_open_blockers() -> None:
    deal = Deal()
    deal.send(create(), _blocker(1, "b1"), _blocker(1, "b2"),
              msg("blocker.resolve", 2, blocker_id="b1", outcome="worked_around", resolved_by="rep-ana"))
    assert replay("d1", deal.facts()).blockers == deal.state.blockers
    assert list(deal.state.blockers) == ["b2"]


# -- interventions --------------------------------------------------------------------------
def test_an_intervention_is_a_fact_of_the_deal_in_its_stage() -> None:
    deal = deal_in("proposal")
    [fact] = deal.send(msg("intervention.record", 3, kind="executive_introduction", recorded_by="mgr-eve",
                           note="VP to VP call")).facts
    assert (fact.type, fact.kind, fact.stage, fact.recorded_by) == (
        "intervention.recorded", "executive_introduction", "proposal", "mgr-eve")


# -- [G5] nurture ---------------------------------------------------------------------------
def _meeting(day: float) -> Any:
    return msg("meeting.held", day, duration_minutes=30, attendees=[{"contact_id": "c1"}])


def test_the_third_conversation_without_the_exit_criteria_suggests_nurture_once() -> None:
    deal = deal_in("qualification")
    assert only(deal.send(_meeting(1)).alerts, "deal.nurture_suggested") == []
    deal.send(msg("call.logged", 2, contact_id="c1", direction="outbound", connected=True, duration_minutes=15))
    deal.send(msg("email.replied", 2.5, contact_id="c1"))  # a reply is no conversation
    [suggestion] = only(deal.send(_meeting(3)).alerts, "deal.nurture_suggested")
    assert suggestion.kind == "notification" and suggestion.details["conversations"] == 3
    assert suggestion.details["missing_criteria"] == QUALIFICATION  # none of qualification's evidence yet
    assert only(deal.send(_meeting(4)).alerts, "deal.nurture_suggested") == []  # once per stay


def test_no_nurture_suggestion_when_the_criteria_are_met_or_in_a_late_stage() -> None:
    deal = deal_in("qualification")
    deal.send(*[evidence(c, 0.5) for c in QUALIFICATION])
    assert not [a for d in (_meeting(1), _meeting(2), _meeting(3)) for a in only(deal.send(d).alerts,
                                                                                  "deal.nurture_suggested")]
    late = deal_in("proposal")
    assert not [a for d in (_meeting(1), _meeting(2), _meeting(3)) for a in only(late.send(d).alerts,
                                                                                 "deal.nurture_suggested")]


# -- coaching and addressing -----------------------------------------------------------------
def test_the_default_playbook_coaches_every_alert_type() -> None:
    coached = {c.alert for c in default_playbook().coaching}
    assert CONDITION_TYPES | NOTIFICATION_TYPES <= coached


def test_alerts_carry_their_coaching() -> None:
    deal = Deal()
    deal.send(create(), next_step())
    [stalled] = only(deal.tick(10.5), "deal.stalled")
    assert stalled.coaching is not None and "blocker" in stalled.coaching.next_best_action
    assert "What could block it?" in stalled.coaching.questions


def _team_playbook(tmp_path: Path) -> Any:
    file = tmp_path / "teams.toml"
    file.write_text(DEFAULT_PLAYBOOK_PATH.read_text()
                    + '\n[[teams]]\nname = "emea"\nmanager = "mgr-eve"\nmembers = ["rep-ana"]\n')
    return load_playbook(file)


def test_late_stages_and_critical_conditions_are_addressed_to_the_manager(tmp_path: Path) -> None:
    deal = Deal(_team_playbook(tmp_path))
    deal.send(create(owner_id="rep-ana"), next_step())
    [warning] = only(deal.tick(10.5), "deal.stalled")
    assert (warning.manager, warning.addressed_to) == ("mgr-eve", "owner")
    [critical] = only(deal.tick(14), "deal.stalled")
    assert (critical.severity, critical.addressed_to) == ("critical", "manager")
    nobody = Deal()
    nobody.send(create(owner_id="rep-zed"))
    assert all((a.manager, a.addressed_to) == (None, "owner") for a in nobody.tick(20))
