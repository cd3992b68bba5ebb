"""The fixture of the manager's workflow tests (issue 17): facts and alerts built with the wire models, as
the core emits them, and written by the projector's batch writer. Used by ``test_manager_views.py`` (the
queues, ``dealflow deal``, ``--manager``) and ``test_analytics_manager.py`` (the views of migration 0005).

Open deals (imported ``NOW`` - 20 days unless shown; teams: emea managed by mgr-eve, apac by mgr-max):

  p1 Acme   rep-ana emea proposal     stalled (open)                         no blocker: "blocker not identified"
  n1 Stark  rep-bo  apac negotiation  ghosting (open, critical, to manager)  b1 risk_aversion / legal_review_drags
                                      open, due in 3 days; b0 same code, resolved after 6 days; an intervention
                                      2 days ago (pending)
  c1 Tyrell rep-ana emea closing      next_step.overdue (open) and a late-stage notification: not stuck, no blocker
  q1 Wayne  rep-bo  apac qualification inactive (open)                       b2 information_gap / no_requirements
                                      open, due 2 days ago (overdue); in the monthly queue (20 > 14 days)
  x1 Hooli  rep-cy  -    discovery    inactive (open, no team, no manager)   no blocker

Closed deals (2026 history, T0 = 2026-01-05 09:00 UTC):

  w1 won   negotiation -> closing T0+3, won T0+40; interventions T0+1 (advanced), T0+4 (no change in 30 days);
           blocker b3 information_gap (no stall point) in negotiation, resolved after 2 days
  w2 won   closing, won T0+6; intervention T0+1 (won)
  l1 lost  negotiation, lost T0+10 (price); intervention T0+2 (lost); blocker b4 budget_uncertainty /
           price_objection in proposal, resolved after 10 days (its resolution projected a batch before its
           identification)
  l2 lost  proposal, lost T0+8 (price);  l3 lost  proposal, lost T0+9 (timing)
  r1 open  proposal -> qualification T0+5 (regression); intervention T0+1 (regressed)
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg

from processors.playbooks.loader import default_playbook
from projections.batch_write import apply_batch
from projections.projector import sync_stage_criteria
from schemas.alerts import Alert, AlertCoaching
from schemas.facts import (
    BlockerIdentified,
    BlockerResolved,
    DealCreated,
    DealLost,
    DealWon,
    InterventionRecorded,
    StageAdvanced,
    StageRegressed,
)

Record = tuple[str, dict[str, Any]]
T0 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TODAY = NOW.date()
TEAMS = {"rep-ana": ("emea", "mgr-eve"), "rep-bo": ("apac", "mgr-max"), "rep-cy": (None, None)}


def start_clock() -> None:
    global NOW, TODAY
    NOW = datetime.now(timezone.utc).replace(microsecond=0)
    TODAY = NOW.date()


def wire(kind: str, model: Any) -> Record:
    return kind, json.loads(model.model_dump_json())


def t(days: float) -> datetime:
    return T0 + timedelta(days=days)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def created(deal_id: str, owner: str, stage: str, at: datetime, name: str | None = None) -> Record:
    return wire("fact", DealCreated(event_id=f"c-{deal_id}", deal_id=deal_id, occurred_at=at, caused_by=f"m-{deal_id}",
                                    name=name or deal_id.upper(), owner_id=owner, amount=10000, currency="USD",
                                    close_date=date(2027, 1, 31), stage=stage, imported=True))


def identified(deal_id: str, blocker_id: str, at: datetime, code: str, stall_point: str | None, stage: str,
               due: date) -> Record:
    return wire("fact", BlockerIdentified(
        event_id=f"bi-{deal_id}-{blocker_id}", deal_id=deal_id, occurred_at=at, caused_by=f"cmd-bi-{blocker_id}",
        blocker_id=blocker_id, code=code, stall_point=stall_point, stage=stage, description=f"{code} on {deal_id}",
        identified_by="mgr-eve", resolution_owner=f"owner-{blocker_id}", resolution_action="Unblock it",
        due_date=due))


def resolved(deal_id: str, blocker_id: str, at: datetime, code: str, days_open: float) -> Record:
    return wire("fact", BlockerResolved(
        event_id=f"br-{deal_id}-{blocker_id}", deal_id=deal_id, occurred_at=at, caused_by=f"cmd-br-{blocker_id}",
        blocker_id=blocker_id, code=code, outcome="resolved", resolved_by="rep-bo", note="done", days_open=days_open))


def intervention(n: int, deal_id: str, kind: str, at: datetime, stage: str) -> Record:
    return wire("fact", InterventionRecorded(event_id=f"iv{n}", deal_id=deal_id, occurred_at=at,
                                             caused_by=f"cmd-iv{n}", kind=kind, stage=stage, recorded_by="mgr-eve",
                                             note=f"intervention {n}"))


def stage_fact(model: type[Any], deal_id: str, at: datetime, from_stage: str, to_stage: str, days: float,
               **fields: Any) -> Record:
    return wire("fact", model(event_id=f"s-{deal_id}-{to_stage}", deal_id=deal_id, occurred_at=at,
                              caused_by=f"cmd-s-{deal_id}-{to_stage}", from_stage=from_stage, to_stage=to_stage,
                              days_in_from_stage=days, **fields))


def alert(alert_id: str, deal_id: str, type_: str, owner: str, stage: str, *, severity: str = "warning",
          kind: str = "condition", addressed_to: str = "owner") -> Record:
    team, manager = TEAMS[owner]
    coaching = None if team is None else AlertCoaching(next_best_action=f"Act on {type_}",
                                                       questions=[f"Why {type_}?", "What must happen next?"])
    return wire("alert", Alert(alert_id=alert_id, type=type_, deal_id=deal_id, severity=severity,  # type: ignore[arg-type]
                               status="raised", raised_at=ago(3), stage=stage, owner_id=owner, caused_by=None,
                               details={"rule": "time_in_stage"} if type_ == "deal.stalled" else {},
                               kind=kind, team=team, manager=manager, addressed_to=addressed_to,  # type: ignore[arg-type]
                               coaching=coaching))


def batches() -> list[list[Record]]:
    """The fixture's records, in the batches the projector gets them."""
    first = [
        created("p1", "rep-ana", "proposal", ago(20), "Acme"), created("n1", "rep-bo", "negotiation", ago(20), "Stark"),
        created("c1", "rep-ana", "closing", ago(20), "Tyrell"), created("q1", "rep-bo", "qualification", ago(20),
                                                                        "Wayne"),
        created("x1", "rep-cy", "discovery", ago(20), "Hooli"),
        created("w1", "rep-ana", "negotiation", T0), created("w2", "rep-ana", "closing", T0),
        created("l1", "rep-bo", "negotiation", T0), created("l2", "rep-bo", "proposal", T0),
        created("l3", "rep-bo", "proposal", T0), created("r1", "rep-bo", "proposal", T0),
        stage_fact(StageAdvanced, "w1", t(3), "negotiation", "closing", 3, requested_by="rep-ana"),
        stage_fact(DealWon, "w1", t(40), "closing", "won", 37),
        stage_fact(DealWon, "w2", t(6), "closing", "won", 6),
        stage_fact(DealLost, "l1", t(10), "negotiation", "lost", 10, reason="price"),
        stage_fact(DealLost, "l2", t(8), "proposal", "lost", 8, reason="price"),
        stage_fact(DealLost, "l3", t(9), "proposal", "lost", 9, reason="timing"),
        stage_fact(StageRegressed, "r1", t(5), "proposal", "qualification", 5, requested_by="rep-bo",
                   reason="stakeholder_changed"),
        intervention(1, "w1", "executive_introduction", t(1), "negotiation"),
        intervention(2, "w1", "stakeholder_mapping", t(4), "closing"),
        intervention(3, "l1", "negotiation_support", t(2), "negotiation"),
        intervention(4, "r1", "deal_restructuring", t(1), "proposal"),
        intervention(5, "w2", "negotiation_support", t(1), "closing"),
        intervention(6, "n1", "executive_introduction", ago(2), "negotiation"),
        resolved("l1", "b4", t(5), "budget_uncertainty", 10),  # before its identification, a batch earlier
    ]
    second = [
        identified("l1", "b4", t(-5), "budget_uncertainty", "price_objection", "proposal", date(2026, 1, 10)),
        identified("n1", "b0", ago(10), "risk_aversion", "legal_review_drags", "negotiation",
                   TODAY - timedelta(days=5)),
        resolved("n1", "b0", ago(4), "risk_aversion", 6),
        identified("n1", "b1", ago(3), "risk_aversion", "legal_review_drags", "negotiation",
                   TODAY + timedelta(days=3)),
        identified("q1", "b2", ago(9), "information_gap", "no_requirements", "qualification",
                   TODAY - timedelta(days=2)),
        identified("w1", "b3", t(1), "information_gap", None, "negotiation", date(2026, 1, 9)),
        resolved("w1", "b3", t(3), "information_gap", 2),
        alert("al-p1", "p1", "deal.stalled", "rep-ana", "proposal"),
        alert("al-n1", "n1", "deal.ghosting", "rep-bo", "negotiation", severity="critical", addressed_to="manager"),
        alert("al-c1", "c1", "next_step.overdue", "rep-ana", "closing"),
        alert("al-c1n", "c1", "deal.late_stage_entered", "rep-ana", "closing", kind="notification",
              addressed_to="manager"),
        alert("al-q1", "q1", "deal.inactive", "rep-bo", "qualification"),
        alert("al-x1", "x1", "deal.inactive", "rep-cy", "discovery"),
    ]
    return [first, second]


def load(url: str) -> None:
    """Write the fixture into the (migrated) database at ``url``."""
    start_clock()
    with psycopg.connect(url, autocommit=True) as conn:
        sync_stage_criteria(conn, default_playbook())
        for batch in batches():
            with conn.transaction(), conn.cursor() as cur:
                apply_batch(cur, batch)


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
