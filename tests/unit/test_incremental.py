"""Incremental detector evaluation gives the same answers (and alerts) as running every detector."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core.detection import detectors, incremental
from processors.core.detection.detectors import DETECTORS, Findings
from processors.core.detection.lifecycle import evaluate
from processors.core.state import ALL_DIRTY
from schemas.inbound import Inbound
from tests.builders import T0, Deal, at, change, create, evidence, msg, next_step

KINDS = ["create", "evidence", "change", "next_step", "update", "sent", "replied", "meeting", "call", "tick", "tick",
         "tick"]


def _message(kind: str, arg: int, day: float) -> Inbound | None:
    contact = f"c{arg % 3}"
    if kind == "create":
        return create(day, stage=[None, "proposal", "negotiation"][arg % 3])
    if kind == "evidence":
        return evidence(["budget_confirmed", "pain_documented", "economic_buyer_engaged"][arg % 3], day)
    if kind == "change":
        return change(["qualification", "proposal", "negotiation", "discovery"][arg % 4], day,
                      reason="timeline_extended")
    if kind == "next_step":
        return next_step(day)
    if kind == "sent":
        return msg("email.sent", day, contact_id=contact)
    if kind == "replied":
        return msg("email.replied", day, contact_id=contact)
    if kind == "meeting":
        return msg("meeting.held", day, duration_minutes=30, attendees=[{"contact_id": contact}])
    if kind == "update":  # a close date that passes soon (close_date.passed counts its days), or an owner
        close = (T0 + timedelta(days=day + arg % 5 - 2)).date().isoformat()
        return msg("deal.update", day, **({"close_date": close} if arg % 2 else {"owner_id": f"rep{arg % 3}"}))
    if kind == "call":
        return msg("call.logged", day, contact_id=contact, direction="outbound", connected=arg % 2 == 0,
                   duration_minutes=10)
    return None


def _same(one: Findings, other: Findings) -> bool:
    return one.active == other.active and one.next_wake == other.next_wake


def test_every_detector_has_its_inputs_in_order() -> None:
    assert tuple(detector for detector, _ in incremental.DETECTOR_INPUTS) == DETECTORS


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 100), st.floats(0, 80, allow_nan=False)),
                max_size=50))
def test_incremental_find_equals_the_full_evaluation(sequence: list[tuple[str, int, float]]) -> None:
    deal = Deal(deal_id="incremental-d1")
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        message = _message(kind, arg, day)
        if message is None:
            deal.tick(day)
        else:
            deal.send(message)
        for later in (timedelta(0), timedelta(hours=arg), timedelta(days=arg / 3)):
            moment = max(at(day), deal.state.evaluated_at or T0) + later
            expected = detectors.find(deal.state, deal.playbook, moment)
            assert _same(incremental.find(deal.state, deal.playbook, moment), expected)


def _handling(deal: Deal, arg: int, day: float) -> Inbound | None:
    """A snooze or an acknowledgement of one of the deal's open alerts (none: nothing to handle)."""
    open_alerts = [entry.alert for entry in deal.state.open_alerts.values()]
    if not open_alerts:
        return None
    alert_id = open_alerts[arg % len(open_alerts)].alert_id
    if arg % 2:
        return msg("alert.snooze", day, alert_id=alert_id, until=at(day + arg / 10).isoformat(), snoozed_by="rep1")
    return msg("alert.acknowledge", day, alert_id=alert_id, acknowledged_by="mgr1")


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*KINDS, "handle", "handle"]), st.integers(0, 100),
                          st.floats(0, 80, allow_nan=False)), max_size=50))
def test_reconciling_the_changed_conditions_equals_reconciling_all(sequence: list[tuple[str, int, float]]) -> None:
    deal = Deal(deal_id="incremental-d2")
    for kind, arg, day in sorted(sequence, key=lambda item: item[2]):
        message = _handling(deal, arg, day) if kind == "handle" else _message(kind, arg, day)
        if message is None:
            deal.tick(day)
        else:
            deal.send(message)
        if not deal.state.exists:
            continue
        afresh = deal.state.updated({"answers": None, "dirty": ALL_DIRTY, "none_snoozed": False})  # all anew
        for later in (timedelta(0), timedelta(hours=arg), timedelta(days=arg / 3)):
            moment = max(at(day), deal.state.evaluated_at or T0) + later
            alerts, state = evaluate(deal.state, deal.playbook, moment)
            expected_alerts, expected = evaluate(afresh, deal.playbook, moment)
            assert alerts == expected_alerts
            assert (state.open_alerts, state.episodes) == (expected.open_alerts, expected.episodes)
