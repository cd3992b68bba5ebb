"""The tables and statements of the set-based batch writer (:mod:`projections.batch_write`).

Rows known to be new go to their table with ``COPY`` (as text, each value parsed by its column's
type, as a statement's parameter would be). The few rows that change stored ones (deals, alerts,
evidence being invalidated) go as one array per column, read back with
``unnest(...)``: the planner then knows how many there are and reaches the stored rows through
their index, however stale the table's statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from projections.alert_rows import ALERT_COLUMNS, CHANGE_COLUMNS, UPSERT_SET
from projections.manager_rows import BLOCKER_COLUMNS, BLOCKER_TYPES, INTERVENTION_COLUMNS, UPSERT_BLOCKER_SET

INSERT_ONLY = {
    "stage_entries": "event_id, deal_id, stage, entered_at, via",
    "stage_history": "event_id, deal_id, from_stage, to_stage, kind, reason, changed_at, days_in_from_stage",
    "close_date_changes": "event_id, deal_id, old_date, new_date, changed_at",
    "engagement": "event_id, deal_id, type, contact_id, occurred_at, buyer_response, buyer_engagement, outbound_touch",
    "gate_rejections": "event_id, deal_id, command_type, requested, reason, message, missing_criteria, missing_fields, "
                       "stage, owner_id, rejected_at",
    "evidence": "event_id, deal_id, criterion, kind, reference, summary, recorded_by, recorded_at, source_event_id",
    "alert_actions": "event_id, deal_id, alert_id, alert_type, action, actor, acted_at, until, note",
    "interventions": INTERVENTION_COLUMNS,
}
"""Tables whose rows only ever arrive, one per fact (keyed by its ``event_id``), and the columns the
batch fills; :class:`~projections.batch_rows.BatchRows` names its lists after them."""


def insert_if_new(table: str) -> str:
    """One row into an insert-only table, unless its ``event_id`` is there already (the careful way)."""
    columns = INSERT_ONLY[table]
    values = ", ".join(["%s"] * len(columns.split(",")))
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT (event_id) DO NOTHING"


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


_SENT_AS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "float8": ("float8", _float), "bool": ("bool", lambda value: value),
}
"""How a column type travels (binary arrays need one Python type per array): as itself, or as text."""


class Arrays:
    """Rows as one binary array parameter per column, and the ``unnest(...) AS alias(...)`` reading them.

    ``columns`` reads like a table definition ("deal_id text, at timestamptz"); values travel as
    text and PostgreSQL parses them with the column's type, as it would a statement's parameter.
    """

    def __init__(self, alias: str, columns: str) -> None:
        self.alias = alias
        self.columns = [(name, kind) for name, kind in (column.split() for column in columns.split(","))]

    def clause(self) -> str:
        arrays = ", ".join(f"%b::{_SENT_AS.get(kind, ('text',))[0]}[]::{kind}[]" for _, kind in self.columns)
        return f"unnest({arrays}) AS {self.alias}({', '.join(name for name, _ in self.columns)})"

    def params(self, rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        converters = [_SENT_AS.get(kind, ("text", _text))[1] for _, kind in self.columns]
        return [[convert(row[i]) for row in rows] for i, convert in enumerate(converters)]


INVALIDATIONS = Arrays("i", "deal_id text, criterion text, at timestamptz")
LATE_INVALIDATIONS = Arrays("i", "event_id text, deal_id text, criterion text, at timestamptz")
DEALS = Arrays("d", "deal_id text, name text, owner_id text, amount_float float8, amount_exact numeric, "
                    "currency text, stage text, status text, stage_entered_at timestamptz, close_date date, "
                    "next_step_description text, next_step_due date, created_at timestamptz, "
                    "updated_at timestamptz, last_activity_at timestamptz, last_buyer_response_at timestamptz")
"""The touched deals as the fold left them (an amount that was a float becomes numeric as a float
parameter would)."""
MOMENTS = Arrays("m", "deal_id text, at timestamptz, buyer bool")
_ALERT_TYPES = {"raised_at": "timestamptz", "resolved_at": "timestamptz", "updated_at": "timestamptz",
                "acknowledged_at": "timestamptz", "snoozed_until": "timestamptz", "at": "timestamptz",
                "details": "jsonb", "notify": "bool", "revision": "int", "coaching": "jsonb"}
ALERTS = Arrays("a", ", ".join(f"{name} {_ALERT_TYPES.get(name, 'text')}" for name in ALERT_COLUMNS))
CHANGES = Arrays("c", ", ".join(f"{name} {_ALERT_TYPES.get(name, 'text')}" for name in CHANGE_COLUMNS))
BLOCKERS = Arrays("b", ", ".join(f"{name} {BLOCKER_TYPES.get(name, 'text')}" for name in BLOCKER_COLUMNS))

KNOWN_FACTS = "SELECT event_id FROM projected_facts WHERE event_id = ANY(%s)"

INVALIDATE_STORED = f"""UPDATE evidence e SET valid = false FROM {INVALIDATIONS.clause()}
    WHERE e.deal_id = i.deal_id AND e.criterion = i.criterion AND e.recorded_at <= i.at"""
"""The batch's invalidations reach the evidence stored before it (runs before the batch's evidence is written)."""
INVALIDATE_LATE = f"""UPDATE evidence e SET valid = false FROM {LATE_INVALIDATIONS.clause()}
    WHERE e.event_id = i.event_id AND e.deal_id = i.deal_id AND e.criterion = i.criterion AND e.recorded_at <= i.at"""
"""... and the batch's own evidence recorded before them."""

_CRITERIA = """LEFT JOIN LATERAL (
        SELECT COALESCE(array_agg(c.criterion ORDER BY c.position) FILTER (WHERE c.backed), '{}') AS satisfied,
               COALESCE(array_agg(c.criterion ORDER BY c.position) FILTER (WHERE NOT c.backed), '{}') AS missing
        FROM (SELECT sc.criterion, sc.position, EXISTS (SELECT 1 FROM evidence e WHERE e.deal_id = d.deal_id
                  AND e.criterion = sc.criterion AND e.valid) AS backed
              FROM stage_criteria sc WHERE sc.stage = d.stage OFFSET 0) c) c ON true"""
"""The exit criteria of each deal's stage, satisfied and missing, as :data:`projections.apply.REFRESH_CRITERIA`
finds them, in one pass over the evidence."""
_TOUCHED = f"""FROM {DEALS.clause()}
    LEFT JOIN (SELECT m.deal_id, max(m.at) FILTER (WHERE NOT m.buyer) AS activity,
                      max(m.at) FILTER (WHERE m.buyer) AS buyer
               FROM {MOMENTS.clause()} GROUP BY m.deal_id) m ON m.deal_id = d.deal_id
    {_CRITERIA}"""
"""Each deal the batch touched, as the fold left it, with the greatest of its moments and the exit
criteria of its stage (after the evidence, so they see the batch's)."""
UPDATE_DEALS = f"""UPDATE deals t SET name = d.name, owner_id = d.owner_id,
        amount = COALESCE(d.amount_float::numeric, d.amount_exact), currency = d.currency, stage = d.stage,
        status = d.status, stage_entered_at = d.stage_entered_at, close_date = d.close_date,
        next_step_description = d.next_step_description, next_step_due = d.next_step_due,
        updated_at = GREATEST(t.updated_at, m.activity), last_activity_at = GREATEST(t.last_activity_at, m.activity),
        last_buyer_response_at = GREATEST(t.last_buyer_response_at, m.buyer),
        satisfied_criteria = c.satisfied, missing_criteria = c.missing
    {_TOUCHED}
    WHERE t.deal_id = d.deal_id"""
"""The touched deals that were stored before the batch (the moments only raise their timestamps)."""
INSERT_DEALS = f"""INSERT INTO deals (deal_id, name, owner_id, amount, currency, stage, status, stage_entered_at,
        close_date, next_step_description, next_step_due, created_at, updated_at, last_activity_at,
        last_buyer_response_at, satisfied_criteria, missing_criteria)
    SELECT d.deal_id, d.name, d.owner_id, COALESCE(d.amount_float::numeric, d.amount_exact), d.currency, d.stage,
        d.status, d.stage_entered_at, d.close_date, d.next_step_description, d.next_step_due, d.created_at,
        GREATEST(d.updated_at, m.activity), GREATEST(d.last_activity_at, m.activity),
        GREATEST(d.last_buyer_response_at, m.buyer), c.satisfied, c.missing
    {_TOUCHED}
    ON CONFLICT (deal_id) DO NOTHING"""
"""The deals the batch created."""
UPSERT_ALERTS = f"""INSERT INTO alerts ({', '.join(ALERT_COLUMNS)})
    SELECT {', '.join(ALERT_COLUMNS)} FROM {ALERTS.clause()}
    ON CONFLICT (alert_id) DO UPDATE SET {UPSERT_SET}"""
"""The batch's alerts, one row per ``alert_id``: new ones inserted, stored ones replaced where the batch's
is newer (what the upsert of :func:`projections.apply.apply_alert` does to them)."""
INSERT_CHANGES = f"""INSERT INTO alert_changes ({', '.join(CHANGE_COLUMNS)})
    SELECT {', '.join(CHANGE_COLUMNS)} FROM {CHANGES.clause()} ON CONFLICT DO NOTHING"""
"""One ``alert_changes`` row per alert record, unless it is there already (a replay)."""
UPSERT_BLOCKERS = f"""INSERT INTO blockers ({', '.join(BLOCKER_COLUMNS)})
    SELECT {', '.join(BLOCKER_COLUMNS)} FROM {BLOCKERS.clause()}
    ON CONFLICT (deal_id, blocker_id) DO UPDATE SET {UPSERT_BLOCKER_SET}"""
"""The batch's blockers, one row per blocker: the identification and resolution met so far, merged into
the stored row as :func:`projections.manager_rows.merge_blocker` merges them."""
