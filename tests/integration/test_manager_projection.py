"""The manager's facts of issue 17 in the projection, on the real PostgreSQL: blockers identified and
resolved in any delivery order, batching and replay end the same for both writers (a resolution projected
in an earlier batch than its identification included), interventions, the alerts' manager, addressee and
coaching, and `dealflow rebuild`'s tables. Facts and alerts are built with the wire models."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from processors.config import Settings
from processors.playbooks.loader import default_playbook
from projections.projector import Projector
from schemas.alerts import Alert, AlertCoaching
from schemas.facts import BlockerIdentified, BlockerResolved, DealCreated, InterventionRecorded
from tests.integration.support import SNAPSHOT_TABLES, fresh_database, isolated, snapshot
from tests.integration.support import query_rows as rows
from tests.integration.support import write_records as write

Record = tuple[str, dict[str, Any]]
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def wire(kind: str, model: Any) -> Record:
    return kind, json.loads(model.model_dump_json())


def created(deal_id: str) -> Record:
    return wire("fact", DealCreated(event_id=f"c-{deal_id}", deal_id=deal_id, occurred_at=T0, caused_by=f"m-{deal_id}",
                                    name=deal_id.title(), owner_id="rep-ana", amount=10000, currency="USD",
                                    close_date=date(2026, 6, 30), stage="proposal", imported=True))


def identified(deal_id: str, blocker_id: str, days: float = 1, code: str = "information_gap",
               stall_point: str | None = "proposal_no_feedback", stage: str = "proposal") -> Record:
    return wire("fact", BlockerIdentified(
        event_id=f"bi-{deal_id}-{blocker_id}", deal_id=deal_id, occurred_at=T0 + timedelta(days=days),
        caused_by=f"cmd-bi-{deal_id}-{blocker_id}", blocker_id=blocker_id, code=code, stall_point=stall_point,
        stage=stage, description="No feedback", identified_by="mgr-eve", resolution_owner="rep-ana",
        resolution_action="Review with the CFO", due_date=(T0 + timedelta(days=days + 7)).date()))


def resolved(deal_id: str, blocker_id: str, days: float = 5, days_open: float = 4, code: str = "information_gap",
             outcome: str = "resolved") -> Record:
    return wire("fact", BlockerResolved(
        event_id=f"br-{deal_id}-{blocker_id}", deal_id=deal_id, occurred_at=T0 + timedelta(days=days),
        caused_by=f"cmd-br-{deal_id}-{blocker_id}", blocker_id=blocker_id, code=code, outcome=outcome,
        resolved_by="rep-ana", note="reviewed", days_open=days_open))


def intervention(deal_id: str, n: int, days: float, kind: str = "executive_introduction",
                 stage: str = "proposal") -> Record:
    return wire("fact", InterventionRecorded(event_id=f"iv-{deal_id}-{n}", deal_id=deal_id,
                                             occurred_at=T0 + timedelta(days=days), caused_by=f"cmd-iv-{deal_id}-{n}",
                                             kind=kind, stage=stage, recorded_by="mgr-eve", note=f"note {n}"))


@pytest.fixture()
def two(base_settings: Settings) -> Iterator[tuple[str, str]]:
    with fresh_database(base_settings) as one, fresh_database(base_settings) as other:
        yield one, other


BLOCKER = """SELECT status, code, stall_point, stage, identified_by, resolution_owner, due_date, resolved_by,
                    outcome, days_open FROM blockers WHERE deal_id = %s AND blocker_id = %s"""
WHOLE = ("resolved", "information_gap", "proposal_no_feedback", "proposal", "mgr-eve", "rep-ana", date(2026, 3, 10),
         "rep-ana", "resolved", 4)


@pytest.mark.parametrize("by_batch", [True, False], ids=["batch", "one_by_one"])
def test_a_blocker_ends_resolved_in_any_delivery_order_batching_and_replay(two: tuple[str, str],
                                                                           by_batch: bool) -> None:
    url, _ = two
    write(url, [created("acme")], by_batch, 1)
    for n, (order, batch) in enumerate(itertools.product(itertools.permutations(range(2)), (1, 2))):
        blocker = f"b{n}"
        records = [[identified("acme", blocker), resolved("acme", blocker)][i] for i in order]
        write(url, records, by_batch, batch)  # batch 1 with the resolution first: it lands a batch earlier
        write(url, records[::-1] + records, by_batch, 3)  # replayed
        assert rows(url, BLOCKER, "acme", blocker) == [WHOLE], (order, batch)
    write(url, [identified("acme", "open-one")], by_batch, 1)
    write(url, [identified("acme", "open-one")], by_batch, 1)
    assert rows(url, "SELECT status, resolved_at FROM blockers WHERE blocker_id = 'open-one'") == [("open", None)]


def manager_records() -> list[Record]:
    coaching = AlertCoaching(next_best_action="Re-engage the economic buyer", questions=["What must happen?"])
    alert = Alert(alert_id="al-1", type="blocker.overdue", deal_id="acme", severity="warning", status="raised",
                  raised_at=T0 + timedelta(days=9), stage="proposal", owner_id="rep-ana", caused_by=None,
                  details={"blocker_id": "b1", "rule": "b1"}, team="emea", manager="mgr-eve", coaching=coaching)
    escalated = alert.model_copy(update={"status": "updated", "severity": "critical", "addressed_to": "manager",
                                         "updated_at": T0 + timedelta(days=10), "revision": 1})
    return [created("acme"), created("globex"), identified("acme", "b1"), resolved("globex", "b1"),
            identified("globex", "b1", code="budget_uncertainty", stall_point=None),
            intervention("acme", 1, 2), intervention("acme", 2, 3, kind="stakeholder_mapping"),
            wire("alert", escalated), wire("alert", alert), resolved("acme", "b1", days=11, days_open=10)]


def test_the_batch_writer_writes_the_rows_of_the_one_by_one_writer(two: tuple[str, str]) -> None:
    by_batch, one_by_one = two
    records = manager_records()
    for batch in (1, 3, len(records)):
        write(by_batch, records, True, batch)
        write(one_by_one, records, False, batch)
    assert snapshot(by_batch) == snapshot(one_by_one)
    assert rows(by_batch, "SELECT deal_id, status, code, stall_point, days_open FROM blockers ORDER BY deal_id") == [
        ("acme", "resolved", "information_gap", "proposal_no_feedback", 10),
        ("globex", "resolved", "budget_uncertainty", None, 4)]  # the identification's code, whatever came first
    assert rows(by_batch, "SELECT event_id, kind, stage, recorded_by, note FROM interventions ORDER BY at") == [
        ("iv-acme-1", "executive_introduction", "proposal", "mgr-eve", "note 1"),
        ("iv-acme-2", "stakeholder_mapping", "proposal", "mgr-eve", "note 2")]
    assert rows(by_batch, "SELECT severity, manager, addressed_to, coaching FROM alerts") == [
        ("critical", "mgr-eve", "manager", {"next_best_action": "Re-engage the economic buyer",
                                            "questions": ["What must happen?"]})]
    assert rows(by_batch, "SELECT revision, manager, addressed_to FROM alert_changes ORDER BY revision") == [
        (0, "mgr-eve", "owner"), (1, "mgr-eve", "manager")]
    # Blocker and intervention facts are the deal's activity, like every accepted command's fact.
    assert rows(by_batch, "SELECT last_activity_at FROM deals WHERE deal_id = 'acme'") == [(T0 + timedelta(days=11),)]


def test_a_rebuild_empties_the_blockers_and_interventions(base_settings: Settings) -> None:
    with isolated(base_settings) as settings:
        write(settings.database_url, manager_records(), True, 100)
        projector = Projector(settings.kafka_bootstrap, settings.database_url, settings.topics.events,
                              settings.topics.alerts, default_playbook())
        projector.start()
        try:
            assert projector.reset() == 0  # the isolated log topics are empty
        finally:
            projector.close()
        counts = "SELECT (SELECT count(*) FROM blockers), (SELECT count(*) FROM interventions)"
        assert rows(settings.database_url, counts) == [(0, 0)]
    assert {"blockers", "interventions"} <= set(SNAPSHOT_TABLES)  # rebuilt and incremental projections compare them
