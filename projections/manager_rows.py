"""The manager's facts (decoded JSON) as rows: blockers and interventions, for both writers.

A blocker's row is keyed by (``deal_id``, ``blocker_id``) and filled by two facts that may arrive in
either order, in one batch or in two: ``blocker.identified`` fills what was identified
(:data:`IDENTIFIED`), ``blocker.resolved`` the resolution (:data:`RESOLVED`) and sets ``status`` to
``resolved``, which nothing sets back to ``open``. :func:`merge_blocker` (the batch fold) and
:data:`UPSERT_BLOCKER_SET` (the SQL of both writers) apply the same rule, so the row ends the same
in any order, batching and replay.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

IDENTIFIED = ("code", "stall_point", "stage", "description", "identified_by", "identified_at", "resolution_owner",
              "resolution_action", "due_date")
"""The columns ``blocker.identified`` fills (``code`` also comes with the resolution, and yields to it)."""
RESOLVED = ("resolved_at", "outcome", "resolved_by", "note", "days_open")
"""The columns ``blocker.resolved`` fills."""
BLOCKER_COLUMNS = ("deal_id", "blocker_id", *IDENTIFIED, "status", *RESOLVED)
BLOCKER_TYPES = {"identified_at": "timestamptz", "due_date": "date", "resolved_at": "timestamptz",
                 "days_open": "numeric"}
"""The SQL type of the blocker columns that are not text."""
BLOCKER_FACTS = ("blocker.identified", "blocker.resolved")

INTERVENTION_COLUMNS = "event_id, deal_id, kind, stage, recorded_by, note, at"


def blocker_row(fact: Row) -> Row:
    """The ``blockers`` columns one ``blocker.identified`` or ``blocker.resolved`` fact fills (others None)."""
    row: Row = dict.fromkeys(BLOCKER_COLUMNS)
    row |= {"deal_id": fact["deal_id"], "blocker_id": fact["blocker_id"], "code": fact.get("code")}
    if fact["type"] == "blocker.identified":
        row |= {name: fact.get(name) for name in IDENTIFIED if name != "identified_at"}
        row |= {"identified_at": fact["occurred_at"], "status": "open"}
    else:
        row |= {"resolved_at": fact["occurred_at"], "outcome": fact.get("outcome"),
                "resolved_by": fact.get("resolved_by"), "note": fact.get("note"), "days_open": fact.get("days_open"),
                "status": "resolved"}
    return row


def merge_blocker(stored: Row, record: Row) -> Row:
    """The row after ``record`` (a :func:`blocker_row`) meets ``stored`` (the same blocker's row so far)."""
    identified = record["identified_at"] is not None
    resolved = record["status"] == "resolved"
    merged = dict(stored)
    if identified:
        merged |= {name: record[name] for name in IDENTIFIED}
    elif merged["code"] is None:
        merged["code"] = record["code"]
    if resolved:
        merged |= {name: record[name] for name in RESOLVED}
    merged["status"] = "resolved" if resolved or stored["status"] == "resolved" else "open"
    return merged


def _set(name: str) -> str:
    if name == "code":
        return ("code = CASE WHEN EXCLUDED.identified_at IS NOT NULL THEN EXCLUDED.code "
                "ELSE coalesce(blockers.code, EXCLUDED.code) END")
    if name in IDENTIFIED:
        return f"{name} = CASE WHEN EXCLUDED.identified_at IS NOT NULL THEN EXCLUDED.{name} ELSE blockers.{name} END"
    return f"{name} = CASE WHEN EXCLUDED.status = 'resolved' THEN EXCLUDED.{name} ELSE blockers.{name} END"


UPSERT_BLOCKER_SET = ", ".join(
    [_set(name) for name in (*IDENTIFIED, *RESOLVED)]
    + ["status = CASE WHEN EXCLUDED.status = 'resolved' OR blockers.status = 'resolved' THEN 'resolved' "
       "ELSE 'open' END"])
"""SQL: ``ON CONFLICT (deal_id, blocker_id) DO UPDATE SET`` what :func:`merge_blocker` does."""


def intervention_row(fact: Row) -> tuple[Any, ...]:
    """The ``interventions`` row of an ``intervention.recorded`` fact."""
    return (fact["event_id"], fact["deal_id"], fact["kind"], fact.get("stage"), fact.get("recorded_by"),
            fact.get("note"), fact["occurred_at"])
