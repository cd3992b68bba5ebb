"""Detectors with an explicit clock: each alert type, thresholds exactly, re-arm and resolve."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core.detection.detectors import _velocity_dropped, velocity
from processors.core.detection.findings import Findings
from processors.core.playbook_view import view_of
from processors.core.state import BuyerEngagement, DealState
from processors.playbooks.loader import default_playbook
from tests.builders import (
    DISCOVERY,
    T0,
    Deal,
    at,
    change,
    create,
    deal_in,
    evidence,
    msg,
    next_step,
)

EPSILON = 1e-6  # days


def only(alerts: list[Any], type_: str) -> list[Any]:
    return [a for a in alerts if a.type == type_]


def test_stalled_warning_at_exactly_one_and_a_half_times_the_benchmark() -> None:
    deal = Deal()
    deal.send(create())
    assert only(deal.tick(10.5 - EPSILON), "deal.stalled") == []
    [warning] = only(deal.tick(10.5), "deal.stalled")
    assert (warning.severity, warning.status, warning.raised_at, warning.caused_by) == (
        "warning", "raised", at(10.5), None)
    assert warning.details == {"days_in_stage": 10.5, "benchmark_days": 7, "ratio": 1.5, "rule": "time_in_stage"}
    assert only(deal.tick(14 - EPSILON), "deal.stalled") == []
    [critical] = only(deal.tick(14), "deal.stalled")  # 2 x 7 days = 336 hours after entering
    # the same alert escalates: one open alert per stay, updated in place and notifying again
    assert (critical.alert_id, critical.status, critical.severity) == (warning.alert_id, "updated", "critical")
    assert critical.raised_at == at(10.5) and critical.updated_at == at(14) and critical.notify
    assert critical.details["ratio"] == 2.0
    assert [entry.alert.severity for entry in deal.state.open_alerts.values()
            if entry.alert.type == "deal.stalled"] == ["critical"]


def test_stage_change_resolves_stall_alerts_with_the_same_ids() -> None:
    deal = Deal()
    deal.send(create(), next_step())
    raised = only(deal.tick(15), "deal.stalled")
    deal.send(*[evidence(c, 15) for c in DISCOVERY])
    decision = deal.send(change("qualification", 16))
    resolved = only(decision.alerts, "deal.stalled")
    assert {a.alert_id for a in resolved} == {a.alert_id for a in raised}
    assert all(a.status == "resolved" and a.resolved_at == at(16) for a in resolved)


NO_DISCUSSION = "no_substantive_discussion_in_stage"


def test_no_substantive_discussion_in_proposal_after_fourteen_days() -> None:
    deal = deal_in("proposal")
    deal.send(msg("email.opened", 5, contact_id="c1"))  # an open is not a discussion
    deal.send(msg("email.replied", 6, contact_id="c1"))  # [G6]: nor is a one-line reply
    [alert] = [a for a in deal.tick(14) if a.details.get("rule") == NO_DISCUSSION]
    assert alert.type == "deal.stalled" and alert.raised_at == at(14)
    assert alert.details["days_without_substantive_discussion"] == 14


@pytest.mark.parametrize("discussion", [
    msg("meeting.held", 3, duration_minutes=45, attendees=[{"contact_id": "c1"}]),
    msg("call.logged", 3, contact_id="c1", direction="outbound", connected=True, duration_minutes=20),
    msg("signal.observed", 3, signal="pricing_feedback", contact_id="c1"),
])
def test_a_substantive_discussion_in_proposal_prevents_the_stall(discussion: Any) -> None:
    deal = deal_in("proposal")
    deal.send(discussion)
    assert [a for a in deal.tick(20) if a.details.get("rule") == NO_DISCUSSION] == []


def test_an_unconnected_call_is_no_substantive_discussion() -> None:
    deal = deal_in("proposal")
    deal.send(msg("call.logged", 3, contact_id="c1", direction="outbound", connected=False, duration_minutes=0))
    assert [a for a in deal.tick(20) if a.details.get("rule") == NO_DISCUSSION]


def test_inactivity_raises_at_seven_days_and_new_activity_rearms_it() -> None:
    deal = Deal()
    deal.send(create())
    assert only(deal.tick(7 - EPSILON), "deal.inactive") == []
    [first] = only(deal.tick(7), "deal.inactive")
    assert first.raised_at == at(7) and first.details["last_activity_at"] == "2026-01-05T09:00:00Z"
    decision = deal.send(msg("email.sent", 9, contact_id="c1"))
    [resolved] = only(decision.alerts, "deal.inactive")
    assert resolved.alert_id == first.alert_id and resolved.status == "resolved" and resolved.resolved_at == at(9)
    [second] = only(deal.tick(16), "deal.inactive")
    assert second.alert_id != first.alert_id and second.raised_at == at(16)


def test_refused_commands_and_empty_updates_are_not_activity() -> None:
    deal = Deal()
    deal.send(create(), change("proposal", 5), msg("deal.update", 6))  # refused, and an update changing nothing
    assert only(deal.tick(7), "deal.inactive")[0].raised_at == at(7)


def test_an_accepted_update_that_changes_the_deal_is_activity() -> None:
    deal = Deal()
    deal.send(create(), msg("deal.update", 5, amount="99000"))
    assert only(deal.tick(11.9), "deal.inactive") == []
    assert only(deal.tick(12), "deal.inactive")[0].raised_at == at(12)


def test_ghosting_after_three_unanswered_touches_and_seven_days_of_silence() -> None:
    deal = Deal()
    deal.send(create(), msg("email.sent", 1, contact_id="c"), msg("email.sent", 2, contact_id="c"))
    assert only(deal.tick(2.5), "deal.ghosting") == []  # only two touches
    deal.send(msg("call.logged", 3, contact_id="c", direction="outbound", connected=False, duration_minutes=0))
    assert only(deal.tick(8 - EPSILON), "deal.ghosting") == []
    [alert] = only(deal.tick(8), "deal.ghosting")  # first touch on day 1 + 7 days
    assert alert.severity == "warning" and alert.raised_at == at(8)
    assert alert.details["unanswered_touches"] == 3 and alert.details["silence_threshold_days"] == 7
    decision = deal.send(msg("email.replied", 9, contact_id="c"))
    assert only(decision.alerts, "deal.ghosting")[0].status == "resolved"


def test_ghosting_waits_for_the_third_touch_when_it_comes_late() -> None:
    deal = Deal()
    deal.send(create(), msg("email.sent", 1, contact_id="c"), msg("email.sent", 2, contact_id="c"))
    decision = deal.send(msg("email.sent", 12, contact_id="c"))
    [alert] = only(decision.alerts, "deal.ghosting")
    assert alert.raised_at == at(12)


def test_ghosting_threshold_uses_three_times_the_median_response_time() -> None:
    deal = Deal()
    deal.send(create())
    for start in (0, 10, 20):  # three measured responses of 4 days each
        deal.send(msg("email.sent", start, contact_id="c"), msg("email.replied", start + 4, contact_id="c"))
    deal.send(*[msg("email.sent", 30 + i, contact_id="c") for i in range(3)])
    assert only(deal.tick(41.9), "deal.ghosting") == []  # 3 x 4 = 12 days > 7
    [alert] = only(deal.tick(42), "deal.ghosting")
    assert alert.details["silence_threshold_days"] == 12


def test_ghosting_is_critical_in_a_late_stage() -> None:
    deal = deal_in("proposal")
    deal.send(*[msg("email.sent", 1, contact_id="c") for _ in range(3)])
    assert only(deal.tick(8), "deal.ghosting")[0].severity == "critical"


def test_single_threaded_from_qualification_and_resolved_by_a_second_contact() -> None:
    deal = deal_in("qualification")
    deal.send(msg("email.replied", 1, contact_id="champ"), msg("email.opened", 2, contact_id="champ"))
    decision = deal.send(msg("content.viewed", 3, contact_id="champ", content_id="x", content_kind="case_study"))
    [alert] = only(decision.alerts, "deal.single_threaded")
    assert alert.raised_at == at(3) and alert.details == {"contact_id": "champ", "window_days": 30}
    decision = deal.send(msg("email.replied", 4, contact_id="cfo"))
    assert only(decision.alerts, "deal.single_threaded")[0].status == "resolved"


def test_single_threading_is_not_checked_in_discovery() -> None:
    deal = Deal()
    deal.send(create(), *[msg("email.replied", d, contact_id="champ") for d in (1, 2, 3)])
    assert only(deal.alerts(), "deal.single_threaded") == []


def test_economic_buyer_silent_in_late_stages() -> None:
    deal = deal_in("proposal")
    deal.send(msg("email.replied", 1, contact_id="x"))  # responses keep other alerts quiet
    [alert] = only(deal.tick(14), "deal.economic_buyer_silent")
    assert alert.raised_at == at(14) and alert.details["last_economic_buyer_engagement_at"] is None
    deal.send(msg("stakeholder.added", 15, contact_id="cfo", role="economic_buyer"))
    assert only(deal.decisions[-1].alerts, "deal.economic_buyer_silent")[0].status == "resolved"
    [again] = only(deal.tick(29), "deal.economic_buyer_silent")
    assert again.raised_at == at(29)


def test_next_step_overdue_at_the_end_of_its_due_day_and_rearmed_by_a_new_one() -> None:
    deal = Deal()
    deal.send(create(), next_step())  # due 2026-02-01
    due_passes = (at(0).replace(year=2026, month=2, day=2, hour=0) - T0).total_seconds() / 86400
    assert only(deal.tick(due_passes - EPSILON), "next_step.overdue") == []
    [alert] = only(deal.tick(due_passes), "next_step.overdue")
    assert alert.details == {"due_date": "2026-02-01", "description": "Call"}
    new_step = {"description": "Demo", "due_date": "2026-03-01"}
    decision = deal.send(msg("deal.update", due_passes + 1, next_step=new_step))
    assert only(decision.alerts, "next_step.overdue")[0].status == "resolved"


def test_close_date_passed_at_the_end_of_the_day() -> None:
    deal = Deal()
    deal.send(create(close_date="2026-01-10"))
    assert only(deal.tick(5.6), "close_date.passed") == []  # 2026-01-10T23:59Z
    [alert] = only(deal.tick(5.625), "close_date.passed")  # 2026-01-11T00:00Z
    assert alert.details["close_date"] == "2026-01-10" and alert.details["days_past"] == 0
    decision = deal.send(msg("deal.update", 6, close_date="2026-02-28"))
    assert only(decision.alerts, "close_date.passed")[0].status == "resolved"


def test_fields_missing_on_import_and_resolved_when_filled() -> None:
    deal = Deal()
    decision = deal.send(create(stage="negotiation"))
    [alert] = only(decision.alerts, "fields.missing")
    assert alert.details == {"missing_fields": ["next_step"]} and alert.raised_at == T0
    assert only(deal.send(next_step(1)).alerts, "fields.missing")[0].status == "resolved"


def test_velocity_drop_against_the_four_weeks_before() -> None:
    days = list(range(0, 28, 3))  # 10 buyer engagements over the first four weeks
    deal = Deal()
    deal.send(create(), *[msg("email.opened", d, contact_id=f"c{d % 2}") for d in days])

    def dropped(x: float) -> bool:  # the rule, computed independently: recent 14 days vs the 28 before
        recent = sum(1 for d in days if x - 14 < d <= x)
        baseline = sum(1 for d in days if x - 42 < d <= x - 14)
        return baseline >= 4 and recent / 2 < 0.5 * baseline / 4

    hours = [h / 24 for h in range(27 * 24, 70 * 24)]
    first = next(x for x in hours if dropped(x))
    last = next(x for x in hours if x > first and not dropped(x))
    alerts = only(deal.tick(70), "velocity.dropped")
    assert [a.status for a in alerts] == ["raised", "resolved"]
    assert alerts[0].raised_at == at(first) and alerts[1].resolved_at == at(last)
    assert alerts[0].details["recent_per_week"] < 0.5 * alerts[0].details["baseline_per_week"]



@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60 * 24), max_size=25), st.integers(0, 20 * 24))
def test_velocity_wakes_when_a_drop_first_starts(hours: list[int], after_last: int) -> None:
    """Without new engagement, velocity wakes at the first moment a window change makes it a drop."""
    playbook = default_playbook()
    view = view_of(playbook)
    times = sorted(T0 + timedelta(hours=h) for h in hours)
    now = (times[-1] if times else T0) + timedelta(hours=after_last)
    state = DealState(deal_id="d1", status="open", stage="proposal",
                      buyer_engagements=[BuyerEngagement(at=t) for t in times])
    found = Findings()
    velocity(state, playbook, now, found)
    if found.active:
        return
    changes = sorted({t + offset for t in times for offset in view.velocity_offsets if t + offset > now})
    expected = next((moment for moment in changes if _velocity_dropped(times, view, moment)), None)
    assert found.next_wake == expected

def test_momentum_signals() -> None:
    deal = Deal()
    deal.send(create())
    added = deal.send(msg("stakeholder.added", 8, contact_id="cfo", role="finance"))  # after the first week
    assert only(added.alerts, "momentum.detected")[0].details == {"signals": ["new_stakeholder"]}
    signal = deal.send(msg("signal.observed", 23, signal="budget_shared"))
    [alert] = only(signal.alerts, "momentum.detected")
    assert alert.severity == "info" and alert.caused_by == signal.facts[0].caused_by
    assert (alert.kind, alert.details) == ("notification", {"signals": ["budget_shared"]})
    deal.send(msg("meeting.held", 24, duration_minutes=30, attendees=[{"contact_id": "a"}]),
              msg("meeting.held", 25, duration_minutes=30, attendees=[{"contact_id": "b"}]))
    two = [{"contact_id": "a"}, {"contact_id": "b"}]
    bigger = deal.send(msg("meeting.held", 40, duration_minutes=60, attendees=two))
    assert only(bigger.alerts, "momentum.detected")[0].details["signals"] == ["longer_meetings", "larger_meetings"]


def test_nurture_resolves_open_alerts_and_only_a_forgotten_parked_deal_raises_again() -> None:
    deal = deal_in("qualification")
    open_alerts = [a for a in deal.tick(30) if a.status == "raised"]
    assert open_alerts
    decision = deal.send(change("nurture", 31, reason="timeline_extended"))
    assert {a.alert_id for a in decision.alerts if a.status == "resolved"} == {a.alert_id for a in open_alerts}
    assert deal.tick(61 - EPSILON) == []  # [G5]: parked 30 days without activity
    [parked] = deal.tick(61)
    assert (parked.type, parked.kind, parked.raised_at) == ("deal.parked_too_long", "condition", at(61))
    assert parked.details["reengage_days"] == 30
    lost = deal.send(msg("deal.close", 62, outcome="lost", reason="timing"))
    assert [(a.alert_id, a.status) for a in lost.alerts] == [(parked.alert_id, "resolved")]
    assert deal.tick(200) == [] and deal.state.open_alerts == {}


def test_alert_ids_are_deterministic_across_runs() -> None:
    runs = []
    for _ in range(2):
        deal = Deal()
        deal.send(create(event_id="c1"), msg("email.sent", 1, event_id="s1", contact_id="x"))
        deal.tick(30)
        runs.append([(a.alert_id, a.status, a.raised_at) for a in deal.alerts()])
    assert runs[0] == runs[1] and runs[0]


def test_a_deadline_and_a_message_at_the_same_moment_fire_the_deadline_first() -> None:
    deal = Deal()
    deal.send(create())
    decision = deal.send(msg("email.sent", 7, contact_id="c"))  # inactivity threshold is exactly day 7
    inactive = only(decision.alerts, "deal.inactive")
    assert [a.status for a in inactive] == ["raised", "resolved"]
