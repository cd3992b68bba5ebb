"""The read side behind the manager views of the CLI (`dealflow pipeline`, `deal`, `review`).

Every count of open alerts counts open conditions only (the ``open_conditions`` view: kind
``condition``, status not ``resolved``); notifications are never open.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]

OPEN_CONDITIONS_BY_TYPE = "SELECT type, count(*) FROM open_conditions GROUP BY type"
"""Open conditions per alert type (the projector's ``dealflow_open_alerts`` gauge)."""


def _fetch(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def pipeline(database_url: str) -> list[Row]:
    """Deals per stage and status: counts, amounts and open alerts."""
    return _fetch(database_url, """
        SELECT d.status, d.stage, count(*) AS deals, coalesce(sum(d.amount), 0) AS amount,
               coalesce(sum(a.open_alerts), 0)::int AS open_alerts
        FROM deals d
        LEFT JOIN open_conditions_by_deal a ON a.deal_id = d.deal_id
        GROUP BY d.status, d.stage""")


def deal(database_url: str, deal_id: str) -> Row | None:
    """One deal: its row, timeline (stage changes, evidence, refusals, alert records, acknowledgements and
    snoozes), its alerts (kind, status, acknowledgement, snooze) and engagement summary."""
    rows = _fetch(database_url, "SELECT * FROM deals WHERE deal_id = %s", (deal_id,))
    if not rows:
        return None
    timeline = _fetch(database_url, """
        SELECT changed_at AS at, 'stage' AS kind,
               kind || ': ' || from_stage || ' -> ' || to_stage
               || coalesce(' (' || reason || ')', '') || ' after ' || round(days_in_from_stage::numeric, 1) || ' days'
               AS what
        FROM stage_history WHERE deal_id = %(id)s
        UNION ALL
        SELECT recorded_at, 'evidence', criterion || ' [' || kind || '] ' || reference || ' by ' || recorded_by
               || CASE WHEN valid THEN '' ELSE ' (invalidated)' END
        FROM evidence WHERE deal_id = %(id)s
        UNION ALL
        SELECT rejected_at, 'refused', message FROM gate_rejections WHERE deal_id = %(id)s
        UNION ALL
        SELECT at, CASE WHEN kind = 'notification' THEN 'notification' ELSE 'alert ' || status END,
               type || ' ' || severity || coalesce(' (acknowledged by ' || acknowledged_by || ')', '')
               || coalesce(' (snoozed until ' || to_char(snoozed_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                           || ')', '')
        FROM alert_changes WHERE deal_id = %(id)s
        UNION ALL
        SELECT acted_at, action, alert_type || ' by ' || coalesce(actor, '?')
               || coalesce(' until ' || to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), '')
               || coalesce(': ' || note, '')
        FROM alert_actions WHERE deal_id = %(id)s
        ORDER BY 1, 2""", {"id": deal_id})  # type: ignore[arg-type]
    alerts = _fetch(database_url, """
        SELECT type, kind, status, severity, raised_at, updated_at, resolved_at, acknowledged_by, acknowledged_at,
               snoozed_until, kind = 'condition' AND status <> 'resolved' AS open, alert_id
        FROM alerts WHERE deal_id = %s
        ORDER BY kind = 'condition' AND status <> 'resolved' DESC, raised_at, alert_id""", (deal_id,))
    engagement = _fetch(database_url, """
        SELECT type, count(*) AS messages, max(occurred_at) AS last_at,
               count(*) FILTER (WHERE buyer_response) AS buyer_responses
        FROM engagement WHERE deal_id = %s GROUP BY type ORDER BY type""", (deal_id,))
    return {"deal": rows[0], "timeline": timeline, "alerts": alerts, "engagement": engagement}


REVIEWS = {
    "weekly": """SELECT w.*, coalesce(c.needs_action, 0) AS needs_action,
                        coalesce(c.snoozed_alerts, 0) AS snoozed_alerts,
                        coalesce(c.acknowledged_alerts, 0) AS acknowledged_alerts
                 FROM review_weekly w LEFT JOIN open_conditions_by_deal c ON c.deal_id = w.deal_id
                 ORDER BY analytics_stage_position(w.stage) DESC, w.close_date NULLS FIRST, w.deal_id""",
    "monthly": "SELECT * FROM review_monthly",
    "quarterly": "SELECT * FROM review_quarterly_sample(%s, %s)",
}


def review(database_url: str, cadence: str, seed: float = 1.0, per_stage: int = 3) -> list[Row]:
    """An inspection queue ([M2]): weekly late-stage review, monthly stuck mid-stage deals, quarterly sample."""
    params: tuple[Any, ...] = (seed, per_stage) if cadence == "quarterly" else ()
    return _fetch(database_url, REVIEWS[cadence], params)
