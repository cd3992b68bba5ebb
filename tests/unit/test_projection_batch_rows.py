"""The batch fold (projections.batch_rows): a batch's facts and alerts become the rows that applying
them one by one, in order, would leave (no database; the equality with the one-by-one writer on
real streams is tests/integration/test_projection_writer.py)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from projections.alert_rows import CHANGE_COLUMNS
from projections.batch_rows import BatchRows, fold_batch

Row = dict[str, Any]


def fact(type_: str, n: int, deal_id: str = "d1", **fields: Any) -> Row:
    return {"event_id": f"e{n}", "deal_id": deal_id, "occurred_at": f"2026-05-{n:02d}T10:00:00Z",
            "caused_by": f"m{n}", "type": type_, **fields}


def created(n: int, deal_id: str = "d1", **fields: Any) -> Row:
    return fact("deal.created", n, deal_id, name="Deal", owner_id="rep-1", amount=1000.0, currency="USD",
                close_date="2026-09-30", stage="discovery", imported=False, **fields)


def advanced(n: int, to_stage: str, from_stage: str = "discovery", **fields: Any) -> Row:
    return fact("stage.advanced", n, from_stage=from_stage, to_stage=to_stage, days_in_from_stage=2.5, **fields)


def updated(n: int, **changes: Any) -> Row:
    return fact("deal.updated", n, changes={name: {"old": None, "new": new} for name, new in changes.items()})


def rejected(n: int) -> Row:
    return fact("command.rejected", n, command_type="stage.change", requested={"to_stage": "closing"},
                reason="gate", message="missing criteria", missing_criteria=["budget"], missing_fields=[])


def evidence(n: int, criterion: str = "budget") -> Row:
    return fact("evidence.recorded", n, criterion=criterion, recorded_by="rep-1", source_event_id=f"m{n}",
                evidence={"kind": "email", "reference": f"ref{n}", "summary": None})


def invalidated(n: int, criterion: str = "budget") -> Row:
    return fact("evidence.invalidated", n, criterion=criterion)


def alert(alert_id: str, status: str, resolved_at: str | None = None, **fields: Any) -> Row:
    return {"alert_id": alert_id, "deal_id": "d1", "type": "deal.stalled", "severity": "warning", "status": status,
            "raised_at": "2026-05-01T10:00:00Z", "resolved_at": resolved_at, "stage": "discovery",
            "owner_id": "rep-1", "caused_by": "m1", "details": {"days": 3}, **fields}


def fold(*facts: Row, deals: dict[str, Row] | None = None, alerts: tuple[Row, ...] = ()) -> BatchRows:
    items = [("fact", f) for f in facts] + [("alert", a) for a in alerts]
    return fold_batch(items, {id(f) for f in facts}, deals if deals is not None else {})


def test_a_deal_created_updated_and_advanced_in_one_batch_ends_advanced_with_the_update() -> None:
    rows = fold(created(1), updated(2, amount=5000.0, next_step={"description": "call", "due_date": "2026-06-01"}),
                advanced(3, "qualification"))
    deal = rows.deals["d1"]
    assert (deal["stage"], deal["stage_entered_at"]) == ("qualification", "2026-05-03T10:00:00Z")
    assert deal["amount"] == 5000.0
    assert (deal["next_step_description"], deal["next_step_due"], deal["status"]) == ("call", "2026-06-01", "open")
    assert deal["created_at"] == "2026-05-01T10:00:00Z"
    assert [entry[2:] for entry in rows.stage_entries] == [
        ("discovery", "2026-05-01T10:00:00Z", "created"), ("qualification", "2026-05-03T10:00:00Z", "advance")]
    assert rows.stage_history == [("e3", "d1", "discovery", "qualification", "advance", None,
                                   "2026-05-03T10:00:00Z", 2.5)]


def test_the_last_write_wins_and_a_terminal_change_only_sets_the_status() -> None:
    rows = fold(created(1), updated(2, name="First"), updated(3, name="Second"), advanced(4, "proposal"),
                fact("deal.won", 5, from_stage="proposal", to_stage="won", days_in_from_stage=1.0))
    deal = rows.deals["d1"]
    assert (deal["name"], deal["stage"], deal["status"]) == ("Second", "proposal", "won")
    assert [entry[4] for entry in rows.stage_entries] == ["created", "advance"]  # no entry for the terminal change


def test_facts_before_the_deal_exists_change_no_deal_column() -> None:
    rows = fold(updated(1, name="Early"), advanced(2, "qualification"), created(3))
    deal = rows.deals["d1"]
    assert (deal["name"], deal["stage"]) == ("Deal", "discovery")
    assert len(rows.stage_history) == 1 and len(rows.stage_entries) == 2  # their own rows are still written
    assert {moment[1] for moment in rows.moments} == {"2026-05-03T10:00:00Z"}  # no activity before the creation


def test_a_second_creation_of_a_stored_deal_changes_nothing_but_its_stage_entry() -> None:
    stored = {"d1": {"name": "Stored", "stage": "proposal", "owner_id": "rep-9"}}
    rows = fold(created(1), deals=stored)
    assert rows.deals["d1"] == {"name": "Stored", "stage": "proposal", "owner_id": "rep-9"}
    assert len(rows.stage_entries) == 1


def test_a_refused_command_records_the_stage_and_owner_of_that_moment() -> None:
    rows = fold(created(1), rejected(2), advanced(3, "qualification"), updated(4, owner_id="rep-2"), rejected(5),
                fact("command.rejected", 6, deal_id="unknown", command_type="stage.change", requested={},
                     reason="unknown deal", message="no such deal", missing_criteria=[], missing_fields=[]))
    assert [(r[0], r[8], r[9]) for r in rows.gate_rejections] == [
        ("e2", "discovery", "rep-1"), ("e5", "qualification", "rep-2"), ("e6", None, None)]
    assert json.loads(rows.gate_rejections[0][3]) == {"to_stage": "closing"}
    assert rows.gate_rejections[0][6] == ["budget"]


def test_an_invalidation_reaches_stored_evidence_and_only_the_batch_evidence_before_it() -> None:
    rows = fold(created(1), evidence(2), evidence(3, "champion"), invalidated(4), evidence(5))
    assert rows.invalidations == [("d1", "budget", "2026-05-04T10:00:00Z")]
    assert rows.late_invalidations == [("e2", "d1", "budget", "2026-05-04T10:00:00Z")]
    assert [row[0] for row in rows.evidence] == ["e2", "e3", "e5"]


def test_moments_raise_activity_only_for_known_deals_and_buyer_responses_are_flagged() -> None:
    reply = fact("engagement.recorded", 2, engagement_type="email.replied",
                 engagement={"type": "email.replied", "contact_id": "c1"})
    sent = fact("engagement.recorded", 3, engagement_type="email.sent", engagement={"type": "email.sent"})
    other = fact("engagement.recorded", 4, deal_id="d2", engagement_type="email.replied",
                 engagement={"type": "email.replied", "contact_id": "c2"})
    rows = fold(created(1), reply, sent, other)
    assert rows.moments == {("d1", "2026-05-01T10:00:00Z", False), ("d1", "2026-05-02T10:00:00Z", False),
                            ("d1", "2026-05-02T10:00:00Z", True), ("d1", "2026-05-03T10:00:00Z", False)}
    assert [row[3:] for row in rows.engagement] == [
        ("c1", "2026-05-02T10:00:00Z", True, True, False), (None, "2026-05-03T10:00:00Z", False, False, True),
        ("c2", "2026-05-04T10:00:00Z", True, True, False)]


def test_facts_not_fresh_are_skipped() -> None:
    first, again = created(1), created(1)
    rows = fold_batch([("fact", first), ("fact", again)], {id(first)}, {})
    assert len(rows.stage_entries) == 1


def test_alerts_with_one_id_collapse_into_the_newest_record_whatever_the_order() -> None:
    raised = alert("a1", "raised", stage="proposal")
    escalated = alert("a1", "updated", severity="critical", stage="negotiation", updated_at="2026-05-02T10:00:00Z",
                      details={"days": 4}, team="emea")
    acknowledged = alert("a1", "updated", severity="critical", stage="negotiation", acknowledged_by="mgr",
                         acknowledged_at="2026-05-02T12:00:00+00:00", updated_at="2026-05-02T12:00:00+00:00")
    resolved = alert("a1", "resolved", "2026-05-03T10:00:00Z", severity="critical", stage="negotiation",
                     acknowledged_by="mgr")
    records = [raised, escalated, acknowledged, resolved]
    for order in itertools.permutations(records):
        row = fold(alerts=(*order, raised, escalated)).alerts["a1"]  # and some of them replayed after
        assert (row["status"], row["severity"], row["resolved_at"], row["updated_at"]) == (
            "resolved", "critical", "2026-05-03T10:00:00Z", "2026-05-03T10:00:00Z"), order
        assert (row["stage"], row["raised_at"], row["acknowledged_by"]) == ("proposal", "2026-05-01T10:00:00Z", "mgr")
    row = fold(alerts=(acknowledged, raised, escalated)).alerts["a1"]  # not resolved yet: the latest update
    assert (row["status"], row["acknowledged_by"], row["updated_at"], row["team"]) == (
        "updated", "mgr", "2026-05-02T12:00:00+00:00", None)
    assert json.loads(row["details"]) == {"days": 3}


def test_an_update_is_newer_than_its_raise_and_a_later_update_than_an_earlier_one() -> None:
    raised = alert("a1", "raised")
    first = alert("a1", "updated", severity="critical", updated_at="2026-05-02T10:00:00Z")
    snoozed = alert("a1", "updated", severity="critical", updated_at="2026-05-04T10:00:00Z",
                    snoozed_until="2026-05-10T00:00:00Z")
    back = alert("a1", "updated", severity="critical", updated_at="2026-05-10T00:00:00Z", notify=True)
    assert fold(alerts=(first, raised)).alerts["a1"]["severity"] == "critical"
    assert fold(alerts=(back, snoozed, first)).alerts["a1"]["snoozed_until"] is None
    assert fold(alerts=(first, snoozed)).alerts["a1"]["snoozed_until"] == "2026-05-10T00:00:00Z"
    assert fold(alerts=(alert("a2", "raised"),)).alerts["a2"]["updated_at"] == "2026-05-01T10:00:00Z"


def test_every_record_gives_one_history_row_and_a_replay_none() -> None:
    raised = alert("a1", "raised")
    escalated = alert("a1", "updated", severity="critical", updated_at="2026-05-02T10:00:00Z", notify=False,
                      revision=1)
    resolved = alert("a1", "resolved", "2026-05-03T10:00:00Z", revision=2)
    rows = fold(alerts=(raised, escalated, raised, resolved, escalated))
    assert [change[:4] for change in rows.alert_changes.values()] == [
        ("a1", 0, "raised", "2026-05-01T10:00:00Z"), ("a1", 1, "updated", "2026-05-02T10:00:00Z"),
        ("a1", 2, "resolved", "2026-05-03T10:00:00Z")]
    notify = CHANGE_COLUMNS.index("notify")
    assert [change[notify] for change in rows.alert_changes.values()] == [True, False, True]


def test_alerts_of_the_notification_types_are_notifications_even_without_a_kind() -> None:
    rows = fold(alerts=(alert("n1", "raised", type="gate.rejected"), alert("n2", "raised", type="momentum.detected",
                                                                          kind="condition"),
                        alert("c1", "raised"), alert("n3", "raised", type="some.new_notice", kind="notification")))
    assert {key: row["kind"] for key, row in rows.alerts.items()} == {
        "n1": "notification", "n2": "notification", "c1": "condition", "n3": "notification"}
    kind = CHANGE_COLUMNS.index("kind")
    assert [change[kind] for change in rows.alert_changes.values()] == [
        "notification", "notification", "condition", "notification"]


def test_acknowledgements_and_snoozes_give_action_rows_and_unknown_facts_nothing() -> None:
    rows = fold(fact("alert.acknowledged", 2, alert_id="a1", alert_type="deal.stalled", acknowledged_by="mgr",
                     note="on it"),
                fact("alert.snoozed", 3, alert_id="a1", alert_type="deal.stalled", until="2026-05-09T00:00:00Z",
                     snoozed_by="rep-1", note=None),
                fact("deal.teleported", 4))
    assert rows.alert_actions == [
        ("e2", "d1", "a1", "deal.stalled", "acknowledged", "mgr", "2026-05-02T10:00:00Z", None, "on it"),
        ("e3", "d1", "a1", "deal.stalled", "snoozed", "rep-1", "2026-05-03T10:00:00Z", "2026-05-09T00:00:00Z", None)]
    assert not rows.stage_entries and not rows.deals


def test_of_two_updates_at_one_moment_the_later_revision_wins_in_either_order() -> None:
    moment = "2026-05-02T10:00:00Z"
    escalated = alert("a1", "updated", severity="critical", updated_at=moment, revision=1)
    acknowledged = alert("a1", "updated", severity="critical", updated_at=moment, revision=2,
                         acknowledged_by="mgr-1", acknowledged_at=moment)
    for order in ((escalated, acknowledged), (acknowledged, escalated)):
        rows = fold(alerts=(alert("a1", "raised"), *order))
        assert (rows.alerts["a1"]["revision"], rows.alerts["a1"]["acknowledged_by"]) == (2, "mgr-1")
        assert len(rows.alert_changes) == 3
