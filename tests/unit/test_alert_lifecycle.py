"""Alerts a manager trusts (issue 16): conditions and notifications, one open alert per condition,
escalation in place, acknowledgement and snooze, momentum once per window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import replay
from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, load_playbook
from schemas.playbook import Playbook
from tests.builders import DISCOVERY, QUALIFICATION, Deal, at, change, create, deal_in, evidence, msg, next_step


def only(alerts: list[Any], type_: str) -> list[Any]:
    return [a for a in alerts if a.type == type_]


def _ack(alert_id: str, day: float, **fields: Any) -> Any:
    return msg("alert.acknowledge", day, alert_id=alert_id, **({"acknowledged_by": "mgr1"} | fields))


def _snooze(alert_id: str, day: float, until: float) -> Any:
    return msg("alert.snooze", day, alert_id=alert_id, until=at(until).isoformat(), snoozed_by="rep1")


# -- two kinds ---------------------------------------------------------------------------------
def test_notifications_are_delivered_once_and_never_open() -> None:
    deal = Deal()
    deal.send(create())
    refused = deal.send(change("proposal", 1))
    [notification] = only(refused.alerts, "gate.rejected")
    assert (notification.kind, notification.status, notification.notify) == ("notification", "raised", True)
    assert all(entry.alert.kind == "condition" for entry in deal.state.open_alerts.values())
    assert notification.alert_id not in {entry.alert.alert_id for entry in deal.state.open_alerts.values()}


def test_conditions_say_they_are_conditions_and_closing_resolves_them() -> None:
    deal = deal_in("qualification")
    raised = [a for a in deal.tick(30) if a.status == "raised"]
    assert raised and all(a.kind == "condition" and a.updated_at == a.raised_at for a in raised)
    lost = deal.send(msg("deal.close", 31, outcome="lost", reason="budget_cut"))
    resolved = [a for a in lost.alerts if a.status == "resolved"]
    assert {a.alert_id for a in resolved} == {a.alert_id for a in raised}
    assert all(not a.notify and a.resolved_at == at(31) for a in resolved)
    assert deal.state.open_alerts == {}


# -- one open alert per condition -------------------------------------------------------------
def test_ghosting_escalates_in_place_when_the_deal_reaches_a_late_stage() -> None:
    deal = deal_in("qualification")
    for day in (1, 2, 3):
        deal.send(msg("email.sent", day, contact_id="c"))
    [ghosting] = only(deal.tick(8), "deal.ghosting")
    assert ghosting.severity == "warning" and ghosting.status == "raised"
    deal.send(*[evidence(criterion, 8.5) for criterion in QUALIFICATION])
    moved = deal.send(change("proposal", 9))  # a late stage: ghosting there is critical
    [escalated] = only(moved.alerts, "deal.ghosting")
    assert (escalated.alert_id, escalated.status, escalated.severity) == (ghosting.alert_id, "updated", "critical")
    assert escalated.stage == "proposal" and escalated.notify


def test_close_date_passed_counts_its_days_while_open() -> None:
    deal = Deal()
    deal.send(create(close_date="2026-01-06"), next_step())
    [passed] = only(deal.tick(2), "close_date.passed")  # the close date's end: 2026-01-07 00:00
    assert passed.status == "raised" and passed.details["days_past"] == 0
    later = only(deal.tick(5), "close_date.passed")
    assert [(a.status, a.details["days_past"], a.notify) for a in later] == [
        ("updated", 1, False), ("updated", 2, False), ("updated", 3, False)]
    assert {a.alert_id for a in later} == {passed.alert_id}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sent", "replied", "meeting", "evidence", "change", "update", "tick",
                                           "tick"]),
                          st.integers(0, 100), st.floats(0, 90, allow_nan=False)), max_size=40))
def test_never_more_than_one_open_alert_per_deal_type_and_rule(sequence: list[tuple[str, int, float]]) -> None:
    deal = deal_in("qualification")
    opened: dict[str, str] = {}  # alert id -> its type/rule, while open
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        if kind == "tick":
            alerts = deal.tick(day)
        else:
            alerts = deal.send(_any_message(kind, arg, day)).alerts
        for alert in alerts:
            if alert.kind != "condition":
                continue
            if alert.status == "resolved":
                opened.pop(alert.alert_id, None)
            else:
                opened[alert.alert_id] = f"{alert.type}/{alert.details.get('rule')}"
            assert len(set(opened.values())) == len(opened), opened


def _any_message(kind: str, arg: int, day: float) -> Any:
    if kind == "sent":
        return msg("email.sent", day, contact_id=f"c{arg % 2}")
    if kind == "replied":
        return msg("email.replied", day, contact_id=f"c{arg % 2}")
    if kind == "meeting":
        return msg("meeting.held", day, duration_minutes=30, attendees=[{"contact_id": f"c{arg % 3}"}])
    if kind == "evidence":
        return evidence(["budget_confirmed", "pain_documented", "proposal_sent"][arg % 3], day)
    if kind == "change":
        return change(["proposal", "discovery", "qualification"][arg % 3], day, reason="timeline_extended")
    return msg("deal.update", day, close_date=(at(day) + timedelta(days=arg % 4)).date().isoformat())


# -- acknowledge and snooze -----------------------------------------------------------------
def _stalled_deal() -> tuple[Deal, Any]:
    deal = Deal()
    deal.send(create(), next_step())
    [warning] = only(deal.tick(10.5), "deal.stalled")
    return deal, warning


def test_an_acknowledged_alert_escalates_without_notifying_again() -> None:
    deal, warning = _stalled_deal()
    decision = deal.send(_ack(warning.alert_id, 11, note="I will call the champion"))
    [fact] = decision.facts
    assert (fact.type, fact.alert_id, fact.acknowledged_by) == ("alert.acknowledged", warning.alert_id, "mgr1")
    [record] = decision.alerts
    assert (record.alert_id, record.status, record.acknowledged_by, record.acknowledged_at, record.notify) == (
        warning.alert_id, "updated", "mgr1", at(11), False)
    [critical] = only(deal.tick(14), "deal.stalled")
    assert critical.severity == "critical" and critical.acknowledged_by == "mgr1" and not critical.notify


def test_acknowledging_is_not_activity_with_the_deal() -> None:
    deal, warning = _stalled_deal()
    before = deal.state.last_activity_at
    deal.send(_ack(warning.alert_id, 11))
    assert deal.state.last_activity_at == before


def test_a_snoozed_alert_comes_back_as_the_same_episode_if_it_still_holds() -> None:
    deal, warning = _stalled_deal()
    [snoozed] = deal.send(_snooze(warning.alert_id, 11, until=12.5)).alerts
    assert snoozed.snoozed_until == at(12.5) and not snoozed.notify
    assert only(deal.tick(12.5 - 1e-6), "deal.stalled") == []
    [back] = only(deal.tick(12.5), "deal.stalled")
    assert (back.alert_id, back.status, back.snoozed_until, back.notify) == (warning.alert_id, "updated", None, True)


def test_a_snoozed_alert_that_cleared_meanwhile_does_not_come_back() -> None:
    deal, warning = _stalled_deal()
    deal.send(_snooze(warning.alert_id, 11, until=20))
    deal.send(*[evidence(c, 12) for c in DISCOVERY])
    moved = deal.send(change("qualification", 12.5))
    assert [a.status for a in only(moved.alerts, "deal.stalled")] == ["resolved"]
    assert [a for a in deal.tick(20.5) if a.alert_id == warning.alert_id] == []


def test_unknown_alerts_and_snoozes_into_the_past_are_refused_without_a_notification() -> None:
    deal, warning = _stalled_deal()
    unknown = deal.send(_ack("no-such-alert", 11))
    assert [f.reason for f in unknown.facts] == ["unknown_alert"] and unknown.alerts == []
    past = deal.send(_snooze(warning.alert_id, 11, until=10))
    assert [f.reason for f in past.facts] == ["invalid_snooze"] and past.alerts == []


def test_replaying_the_facts_rebuilds_acknowledgements_and_snoozes() -> None:
    deal, warning = _stalled_deal()
    deal.send(_ack(warning.alert_id, 11), _snooze(warning.alert_id, 11.5, until=13))
    rebuilt = replay("d1", deal.facts())
    assert rebuilt.open_alerts == {}  # the raise itself is the detectors' bookkeeping, not a fact
    [entry] = [e for e in deal.state.open_alerts.values() if e.alert.alert_id == warning.alert_id]
    assert (entry.alert.acknowledged_by, entry.alert.snoozed_until) == ("mgr1", at(13))


# -- momentum that means something ----------------------------------------------------------
def _momentum(decision: Any) -> list[str]:
    return [s for a in only(decision.alerts, "momentum.detected") for s in a.details["signals"]]


def test_momentum_is_reported_at_most_once_per_deal_within_the_window() -> None:
    deal = Deal()
    deal.send(create())
    assert _momentum(deal.send(msg("signal.observed", 2, signal="budget_shared"))) == ["budget_shared"]
    assert _momentum(deal.send(msg("signal.observed", 10, signal="budget_shared"))) == []
    assert _momentum(deal.send(msg("signal.observed", 11, signal="buyer_action"))) == []
    assert _momentum(deal.send(msg("signal.observed", 16, signal="budget_shared"))) == ["budget_shared"]
    reported = [f.momentum for f in deal.facts() if f.type == "engagement.recorded"]
    assert reported == [["budget_shared"], [], [], ["budget_shared"]]  # the facts say what was reported


def test_first_contacts_are_not_new_stakeholders_but_later_attendees_are() -> None:
    deal = Deal()
    deal.send(create())
    assert _momentum(deal.send(msg("stakeholder.added", 0.1, contact_id="champion", role="champion"))) == []
    first_week = msg("meeting.held", 3, duration_minutes=30, attendees=[{"contact_id": "champion"},
                                                                        {"contact_id": "it"}])
    assert _momentum(deal.send(first_week)) == []  # the deal's first contacts
    meeting = msg("meeting.held", 9, duration_minutes=20, attendees=[{"contact_id": "it"}, {"contact_id": "cfo"}])
    assert _momentum(deal.send(meeting)) == ["new_stakeholder"]  # [S2]: the CFO joins
    again = msg("meeting.held", 30, duration_minutes=20, attendees=[{"contact_id": "cfo"}, {"contact_id": "it"}])
    assert _momentum(deal.send(again)) == []
    legal = msg("meeting.held", 31, duration_minutes=20, attendees=[{"contact_id": "legal"}])
    assert _momentum(deal.send(legal)) == ["new_stakeholder"]


def test_faster_responses_need_a_sustained_change_not_one_quick_reply() -> None:
    deal = Deal()
    deal.send(create())
    day = 1.0
    for hours in (48, 48, 48, 2):  # three slow answers, then one quick reply
        deal.send(msg("email.sent", day, contact_id="c"))
        reply = deal.send(msg("email.replied", day + hours / 24, contact_id="c"))
        day += 3
    assert "faster_responses" not in _momentum(reply)
    for hours in (2, 2):
        deal.send(msg("email.sent", day, contact_id="c"))
        reply = deal.send(msg("email.replied", day + hours / 24, contact_id="c"))
        day += 3
    assert "faster_responses" in _momentum(reply)


# -- team thresholds ------------------------------------------------------------------------
def _team_playbook(tmp_path: Path) -> Playbook:
    file = tmp_path / "teams.toml"
    file.write_text(DEFAULT_PLAYBOOK_PATH.read_text() + TEAM)
    return load_playbook(file)


TEAM = """
[[teams]]
name = "enterprise"
manager = "mgr-eve"
members = ["rep-ana"]

[teams.detectors]
inactive_days = 14
"""


def test_a_teams_thresholds_apply_to_its_members_deals_and_alerts_carry_the_team(tmp_path: Path) -> None:
    playbook = _team_playbook(tmp_path)
    member, other = Deal(playbook), Deal(playbook, deal_id="d2")
    member.send(create(owner_id="rep-ana"))
    other.send(msg("deal.create", 0, deal_id="d2", name="Other", owner_id="rep-zed", amount="1000",
                   close_date="2026-06-30"))
    assert only(member.tick(13.9), "deal.inactive") == []
    [late] = only(member.tick(14), "deal.inactive")
    [usual] = only(other.tick(7), "deal.inactive")
    assert (late.team, usual.team) == ("enterprise", None)
    refused = member.send(change("proposal", 15))
    assert only(refused.alerts, "gate.rejected")[0].team == "enterprise"


def test_a_deal_moved_to_a_team_member_follows_the_teams_thresholds(tmp_path: Path) -> None:
    deal = Deal(_team_playbook(tmp_path))
    deal.send(create(owner_id="rep-zed"), msg("deal.update", 1, owner_id="rep-ana"))
    assert only(deal.tick(14.9), "deal.inactive") == []  # 14 days after the update (activity)
    assert only(deal.tick(15), "deal.inactive")[0].team == "enterprise"


def test_the_end_of_a_snooze_reminds_even_when_the_alert_was_acknowledged() -> None:
    deal, warning = _stalled_deal()
    deal.send(_ack(warning.alert_id, 11), _snooze(warning.alert_id, 11.5, until=12.5))
    [back] = only(deal.tick(12.5), "deal.stalled")
    assert (back.acknowledged_by, back.snoozed_until, back.notify) == ("mgr1", None, True)
