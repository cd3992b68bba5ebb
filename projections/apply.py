"""Turning one fact or alert (as decoded JSON) into rows, one statement at a time. Every write is idempotent.

This is the projection's definition, fact by fact. The projector writes whole batches
set-based (:mod:`projections.batch_write`), and tests hold those rows equal to
:func:`apply_one_by_one` over the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from processors.core.engagement_kinds import (
    engagement_contacts,
    is_buyer_engagement,
    is_buyer_response,
    is_outbound_touch,
)
from projections.alert_rows import ALERT_COLUMNS, CHANGE_COLUMNS, UPSERT_SET, alert_row, change_row
from projections.manager_rows import (
    BLOCKER_COLUMNS,
    BLOCKER_FACTS,
    INTERVENTION_COLUMNS,
    UPSERT_BLOCKER_SET,
    blocker_row,
    intervention_row,
)

Row = dict[str, Any]


@dataclass
class BatchResult:
    """What applying one batch did: records seen, facts applied (new ones), alerts upserted."""

    records: int = 0
    facts_applied: int = 0
    alerts_applied: int = 0

STAGE_KINDS = {
    "stage.advanced": "advance",
    "stage.regressed": "regress",
    "deal.nurtured": "nurture",
    "deal.disqualified": "disqualify",
    "deal.won": "won",
    "deal.lost": "lost",
}
TERMINAL = {"deal.disqualified": "disqualified", "deal.won": "won", "deal.lost": "lost"}
DEAL_COLUMNS = {
    "name": "name",
    "owner_id": "owner_id",
    "amount": "amount",
    "currency": "currency",
    "close_date": "close_date",
}


def _entered(cur: Cursor[Any], fact: Row, stage: str, via: str) -> None:
    cur.execute(
        """INSERT INTO stage_entries (event_id, deal_id, stage, entered_at, via) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (event_id) DO NOTHING""",
        (fact["event_id"], fact["deal_id"], stage, fact["occurred_at"], via),
    )


def _created(cur: Cursor[Any], fact: Row) -> None:
    _entered(cur, fact, fact["stage"], "imported" if fact.get("imported") else "created")
    cur.execute(
        """INSERT INTO deals (deal_id, name, owner_id, amount, currency, stage, status,
               stage_entered_at, close_date, created_at, updated_at, last_activity_at)
           VALUES (%(deal_id)s, %(name)s, %(owner_id)s, %(amount)s, %(currency)s, %(stage)s, 'open',
               %(occurred_at)s, %(close_date)s, %(occurred_at)s, %(occurred_at)s, %(occurred_at)s)
           ON CONFLICT (deal_id) DO NOTHING""",
        fact,
    )


def _updated(cur: Cursor[Any], fact: Row) -> None:
    sets: list[str] = []
    params: Row = {"deal_id": fact["deal_id"]}
    for field, change in fact["changes"].items():
        new = change["new"]
        if field == "close_date":
            cur.execute(
                """INSERT INTO close_date_changes (event_id, deal_id, old_date, new_date, changed_at)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
                (fact["event_id"], fact["deal_id"], change["old"], new, fact["occurred_at"]),
            )
        if field == "next_step":
            sets += ["next_step_description = %(nsd)s", "next_step_due = %(nsdue)s"]
            params |= {"nsd": new["description"], "nsdue": new["due_date"]}
        elif field in DEAL_COLUMNS:
            sets.append(f"{DEAL_COLUMNS[field]} = %({field})s")
            params[field] = new
    if sets:
        cur.execute(f"UPDATE deals SET {', '.join(sets)} WHERE deal_id = %(deal_id)s", params)


def _stage_changed(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(
        """INSERT INTO stage_history (event_id, deal_id, from_stage, to_stage, kind, reason,
               changed_at, days_in_from_stage)
           VALUES (%(event_id)s, %(deal_id)s, %(from_stage)s, %(to_stage)s, %(kind)s, %(reason)s,
               %(occurred_at)s, %(days_in_from_stage)s)
           ON CONFLICT (event_id) DO NOTHING""",
        fact | {"kind": STAGE_KINDS[fact["type"]], "reason": fact.get("reason")},
    )
    if fact["type"] in TERMINAL:
        cur.execute("UPDATE deals SET status = %s WHERE deal_id = %s", (TERMINAL[fact["type"]], fact["deal_id"]))
        return
    _entered(cur, fact, fact["to_stage"], STAGE_KINDS[fact["type"]])
    cur.execute(
        "UPDATE deals SET stage = %s, stage_entered_at = %s WHERE deal_id = %s",
        (fact["to_stage"], fact["occurred_at"], fact["deal_id"]),
    )
    next_step = fact.get("next_step")
    if next_step:
        cur.execute(
            "UPDATE deals SET next_step_description = %s, next_step_due = %s WHERE deal_id = %s",
            (next_step["description"], next_step["due_date"], fact["deal_id"]),
        )


def _evidence(cur: Cursor[Any], fact: Row) -> None:
    evidence = fact["evidence"]
    cur.execute(
        """INSERT INTO evidence (event_id, deal_id, criterion, kind, reference, summary,
               recorded_by, recorded_at, source_event_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
        (fact["event_id"], fact["deal_id"], fact["criterion"], evidence["kind"], evidence["reference"],
         evidence.get("summary"), fact["recorded_by"], fact["occurred_at"], fact["source_event_id"]),
    )


def _invalidated(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(
        "UPDATE evidence SET valid = false WHERE deal_id = %s AND criterion = %s AND recorded_at <= %s",
        (fact["deal_id"], fact["criterion"], fact["occurred_at"]),
    )


def _engagement(cur: Cursor[Any], fact: Row) -> None:
    engagement = fact["engagement"]
    contacts = engagement_contacts(engagement)
    cur.execute(
        """INSERT INTO engagement (event_id, deal_id, type, contact_id, occurred_at, buyer_response,
               buyer_engagement, outbound_touch)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
        (fact["event_id"], fact["deal_id"], fact["engagement_type"], contacts[0] if contacts else None,
         fact["occurred_at"], is_buyer_response(engagement), is_buyer_engagement(engagement),
         is_outbound_touch(engagement)),
    )
    if is_buyer_response(engagement):
        cur.execute(
            """UPDATE deals SET last_buyer_response_at = GREATEST(last_buyer_response_at, %s)
               WHERE deal_id = %s""",
            (fact["occurred_at"], fact["deal_id"]),
        )


def _rejected(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(
        """INSERT INTO gate_rejections (event_id, deal_id, command_type, requested, reason, message,
               missing_criteria, missing_fields, stage, owner_id, rejected_at)
           SELECT %(event_id)s, %(deal_id)s, %(command_type)s, %(requested)s, %(reason)s, %(message)s,
               %(missing_criteria)s, %(missing_fields)s, d.stage, d.owner_id, %(occurred_at)s
           FROM (SELECT 1) AS one LEFT JOIN deals d ON d.deal_id = %(deal_id)s
           ON CONFLICT (event_id) DO NOTHING""",
        fact | {"requested": Jsonb(fact["requested"])},
    )


ALERT_ACTIONS = {"alert.acknowledged": "acknowledged", "alert.snoozed": "snoozed"}


def action_row(fact: Row) -> tuple[Any, ...]:
    """The ``alert_actions`` row of an ``alert.acknowledged`` or ``alert.snoozed`` fact."""
    return (fact["event_id"], fact["deal_id"], fact["alert_id"], fact.get("alert_type"), ALERT_ACTIONS[fact["type"]],
            fact.get("acknowledged_by") or fact.get("snoozed_by"), fact["occurred_at"], fact.get("until"),
            fact.get("note"))


def _alert_action(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(
        """INSERT INTO alert_actions (event_id, deal_id, alert_id, alert_type, action, actor, acted_at, until, note)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
        action_row(fact),
    )


UPSERT_BLOCKER = f"""INSERT INTO blockers ({', '.join(BLOCKER_COLUMNS)})
    VALUES ({', '.join(f'%({name})s' for name in BLOCKER_COLUMNS)})
    ON CONFLICT (deal_id, blocker_id) DO UPDATE SET {UPSERT_BLOCKER_SET}"""


def _blocker(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(UPSERT_BLOCKER, blocker_row(fact))


def _intervention(cur: Cursor[Any], fact: Row) -> None:
    cur.execute(f"""INSERT INTO interventions ({INTERVENTION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (event_id) DO NOTHING""", intervention_row(fact))


_APPLY: dict[str, Callable[[Cursor[Any], Row], None]] = {
    "deal.created": _created,
    "deal.updated": _updated,
    "evidence.recorded": _evidence,
    "evidence.invalidated": _invalidated,
    "engagement.recorded": _engagement,
    "command.rejected": _rejected,
    **{name: _stage_changed for name in STAGE_KINDS},
    **{name: _alert_action for name in ALERT_ACTIONS},
    **{name: _blocker for name in BLOCKER_FACTS},
    "intervention.recorded": _intervention,
}


def new_facts(cur: Cursor[Any], facts: list[Row]) -> list[Row]:
    """The facts of a batch not applied before (first occurrence of each ``event_id``), recorded as applied."""
    ids = [fact["event_id"] for fact in facts]
    seen = {row[0] for row in cur.execute("SELECT event_id FROM projected_facts WHERE event_id = ANY(%s)",
                                          (ids,)).fetchall()}
    fresh: list[Row] = []
    for fact in facts:
        if fact["event_id"] not in seen:
            seen.add(fact["event_id"])
            fresh.append(fact)
    cur.executemany(
        "INSERT INTO projected_facts (event_id, deal_id, type, occurred_at) VALUES (%s, %s, %s, %s)",
        [(f["event_id"], f["deal_id"], f["type"], f["occurred_at"]) for f in fresh],
    )
    return fresh


def apply_fact(cur: Cursor[Any], fact: Row) -> None:
    """Apply one fact that :func:`new_facts` found new (statements only: safe in pipeline mode)."""
    apply = _APPLY.get(fact["type"])
    if apply is not None:
        apply(cur, fact)
    if fact.get("caused_by"):
        cur.execute(
            """UPDATE deals SET last_activity_at = GREATEST(last_activity_at, %(at)s),
                   updated_at = GREATEST(updated_at, %(at)s) WHERE deal_id = %(deal_id)s""",
            {"at": fact["occurred_at"], "deal_id": fact["deal_id"]},
        )


ALERT_VALUES = ", ".join(f"%({name})s" for name in ALERT_COLUMNS)
UPSERT_ALERT = f"""INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({ALERT_VALUES})
    ON CONFLICT (alert_id) DO UPDATE SET {UPSERT_SET}"""
INSERT_CHANGE = f"""INSERT INTO alert_changes ({', '.join(CHANGE_COLUMNS)})
    VALUES ({', '.join(['%s'] * len(CHANGE_COLUMNS))}) ON CONFLICT DO NOTHING"""


def apply_alert(cur: Cursor[Any], alert: Row) -> None:
    """Upsert an alert by ``alert_id`` (an older record never overwrites a newer one) and keep its change."""
    row = alert_row(alert)
    cur.execute(UPSERT_ALERT, row)
    cur.execute(INSERT_CHANGE, change_row(alert, row))


def apply_one_by_one(cur: Cursor[Any], payloads: Iterable[tuple[str, Row]]) -> BatchResult:
    """Apply ("fact" | "alert", payload) pairs in order, statement by statement (pipelined); refresh criteria.

    Facts applied before (same ``event_id``) are skipped. The reference the batch writer is
    tested against.
    """
    items = list(payloads)
    fresh = {id(fact) for fact in new_facts(cur, [p for kind, p in items if kind == "fact"])}
    result = BatchResult(records=len(items))
    touched: set[str] = set()
    with cur.connection.pipeline():
        for kind, payload in items:
            if kind == "alert":
                apply_alert(cur, payload)
                result.alerts_applied += 1
            elif id(payload) in fresh:
                apply_fact(cur, payload)
                result.facts_applied += 1
                touched.add(payload["deal_id"])
    refresh_criteria(cur, sorted(touched))
    return result


def criteria_of(deal: str, satisfied: bool) -> str:
    """SQL for the exit criteria of a deal's current stage (``deal``: an alias with ``deal_id`` and
    ``stage``) that valid evidence backs (``satisfied``) or not, in playbook order."""
    backed = "EXISTS" if satisfied else "NOT EXISTS"
    return f"""COALESCE((SELECT array_agg(sc.criterion ORDER BY sc.position)
                   FROM stage_criteria sc WHERE sc.stage = {deal}.stage AND {backed} (
                       SELECT 1 FROM evidence e WHERE e.deal_id = {deal}.deal_id
                       AND e.criterion = sc.criterion AND e.valid)), '{{}}')"""


REFRESH_CRITERIA = f"""UPDATE deals d SET satisfied_criteria = {criteria_of("d", True)},
    missing_criteria = {criteria_of("d", False)} WHERE d.deal_id = ANY(%s)"""


def refresh_criteria(cur: Cursor[Any], deal_ids: list[str]) -> None:
    """Recompute the satisfied and missing exit criteria of the deals' current stages."""
    if deal_ids:
        cur.execute(REFRESH_CRITERIA, (deal_ids,))
