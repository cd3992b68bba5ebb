"""The batch fold of the manager's facts (issue 17): blockers identified and resolved in any order collapse
into the row the one-by-one writer leaves, interventions give one row each, and alert rows carry the
manager, the addressee and the coaching (no database; tests/integration/test_manager_projection.py holds
both writers equal on PostgreSQL)."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timezone
from typing import Any

from projections.alert_rows import CHANGE_COLUMNS, alert_row, change_row
from projections.batch_rows import BatchRows, fold_batch
from schemas.alerts import Alert, AlertCoaching
from schemas.facts import BlockerIdentified, BlockerResolved, InterventionRecorded

Row = dict[str, Any]
T = datetime(2026, 5, 4, 9, tzinfo=timezone.utc)


def wire(model: Any) -> Row:
    return json.loads(model.model_dump_json())


def identified(blocker_id: str = "b1", deal_id: str = "d1", n: int = 1, code: str = "information_gap") -> Row:
    return wire(BlockerIdentified(
        event_id=f"bi-{deal_id}-{blocker_id}-{n}", deal_id=deal_id, occurred_at=T, caused_by=f"m{n}",
        blocker_id=blocker_id, code=code, stall_point="proposal_no_feedback", stage="proposal",
        description="No feedback on the proposal", identified_by="mgr-eve", resolution_owner="rep-ana",
        resolution_action="Book a review with the CFO", due_date=date(2026, 5, 11)))


def resolved(blocker_id: str = "b1", deal_id: str = "d1", n: int = 2) -> Row:
    return wire(BlockerResolved(
        event_id=f"br-{deal_id}-{blocker_id}-{n}", deal_id=deal_id, occurred_at=T.replace(day=8), caused_by=f"m{n}",
        blocker_id=blocker_id, code="information_gap", outcome="resolved", resolved_by="rep-ana",
        note="CFO reviewed it", days_open=4.0))


def fold(*facts: Row, alerts: tuple[Row, ...] = ()) -> BatchRows:
    items = [("fact", f) for f in facts] + [("alert", a) for a in alerts]
    return fold_batch(items, {id(f) for f in facts}, {})


WHOLE = {"deal_id": "d1", "blocker_id": "b1", "code": "information_gap", "stall_point": "proposal_no_feedback",
         "stage": "proposal", "description": "No feedback on the proposal", "identified_by": "mgr-eve",
         "identified_at": "2026-05-04T09:00:00Z", "resolution_owner": "rep-ana",
         "resolution_action": "Book a review with the CFO", "due_date": "2026-05-11", "status": "resolved",
         "resolved_at": "2026-05-08T09:00:00Z", "outcome": "resolved", "resolved_by": "rep-ana",
         "note": "CFO reviewed it", "days_open": 4.0}


def test_a_blocker_identified_and_resolved_in_one_batch_is_one_resolved_row_in_either_order() -> None:
    for order in itertools.permutations([identified(), resolved()]):
        rows = fold(*order)
        assert rows.blockers == {("d1", "b1"): WHOLE}, order


def test_a_resolution_alone_gives_a_resolved_row_without_what_was_identified() -> None:
    row = fold(resolved()).blockers[("d1", "b1")]
    assert (row["status"], row["code"], row["days_open"], row["identified_at"], row["due_date"]) == (
        "resolved", "information_gap", 4.0, None, None)


def test_an_identification_alone_is_open_and_a_replayed_one_changes_nothing() -> None:
    first = fold(identified()).blockers[("d1", "b1")]
    assert (first["status"], first["resolved_at"], first["resolution_owner"]) == ("open", None, "rep-ana")
    again = fold(identified(), identified(), resolved(), identified()).blockers
    assert again == {("d1", "b1"): WHOLE}  # an identification after the resolution never reopens it


def test_blockers_are_keyed_by_deal_and_blocker_id() -> None:
    rows = fold(identified("b1", "d1"), identified("b1", "d2"), resolved("b1", "d2"))
    assert {key: row["status"] for key, row in rows.blockers.items()} == {("d1", "b1"): "open",
                                                                         ("d2", "b1"): "resolved"}


def test_an_intervention_gives_one_row_and_changes_no_deal() -> None:
    fact = wire(InterventionRecorded(event_id="iv-1", deal_id="d1", occurred_at=T, caused_by="m9",
                                     kind="executive_introduction", stage="negotiation", recorded_by="mgr-eve",
                                     note="VP to VP call"))
    rows = fold(fact)
    assert rows.interventions == [("iv-1", "d1", "executive_introduction", "negotiation", "mgr-eve", "VP to VP call",
                                   "2026-05-04T09:00:00Z")]
    assert not rows.deals and not rows.blockers and not rows.stage_entries


def test_alert_rows_carry_the_manager_the_addressee_and_the_coaching() -> None:
    coaching = AlertCoaching(next_best_action="Call the economic buyer", questions=["When did you last talk?"])
    record = wire(Alert(alert_id="a1", type="deal.stalled", deal_id="d1", severity="critical", status="raised",
                        raised_at=T, stage="proposal", owner_id="rep-ana", caused_by=None, details={},
                        team="emea", manager="mgr-eve", addressed_to="manager", coaching=coaching))
    row = alert_row(record)
    assert (row["manager"], row["addressed_to"]) == ("mgr-eve", "manager")
    assert json.loads(row["coaching"]) == {"next_best_action": "Call the economic buyer",
                                           "questions": ["When did you last talk?"]}
    change = dict(zip(CHANGE_COLUMNS, change_row(record), strict=True))
    assert (change["manager"], change["addressed_to"]) == ("mgr-eve", "manager")
    old = {key: value for key, value in record.items() if key not in ("manager", "addressed_to", "coaching")}
    assert (alert_row(old)["addressed_to"], alert_row(old)["coaching"], alert_row(old)["manager"]) == (
        "owner", None, None)  # a record published before issue 17


def test_the_newest_record_of_an_alert_gives_its_coaching_and_addressee() -> None:
    base = {"alert_id": "a1", "deal_id": "d1", "type": "deal.stalled", "severity": "warning", "status": "raised",
            "raised_at": "2026-05-01T10:00:00Z", "stage": "proposal", "owner_id": "rep-1", "details": {},
            "coaching": {"next_best_action": "Ask what must happen", "questions": []}}
    escalated = base | {"status": "updated", "severity": "critical", "updated_at": "2026-05-02T10:00:00Z",
                        "revision": 1, "addressed_to": "manager", "manager": "mgr-eve"}
    for order in ((base, escalated), (escalated, base)):
        row = fold(alerts=order).alerts["a1"]
        assert (row["addressed_to"], row["manager"], row["severity"]) == ("manager", "mgr-eve", "critical")
