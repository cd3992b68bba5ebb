"""The read side behind the manager views of the CLI (`dealflow pipeline`, `deal`, `review`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

Row = dict[str, Any]


def _fetch(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def pipeline(database_url: str) -> list[Row]:
    """Deals per stage and status: counts, amounts and open alerts."""
    return _fetch(database_url, """
        SELECT d.status, d.stage, count(*) AS deals, coalesce(sum(d.amount), 0) AS amount,
               coalesce(sum(a.open_alerts), 0)::int AS open_alerts
        FROM deals d
        LEFT JOIN (SELECT deal_id, count(*) AS open_alerts FROM alerts WHERE status = 'raised'
                   GROUP BY deal_id) a ON a.deal_id = d.deal_id
        GROUP BY d.status, d.stage""")


def deal(database_url: str, deal_id: str) -> Row | None:
    """One deal: its row, timeline (stage changes, evidence, refusals, alerts) and engagement summary."""
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
        SELECT raised_at, 'alert', type || ' ' || severity || ' ' || status
               || coalesce(' (resolved ' || to_char(resolved_at, 'YYYY-MM-DD HH24:MI') || ')', '')
        FROM alerts WHERE deal_id = %(id)s
        ORDER BY 1, 2""", {"id": deal_id})  # type: ignore[arg-type]
    engagement = _fetch(database_url, """
        SELECT type, count(*) AS messages, max(occurred_at) AS last_at,
               count(*) FILTER (WHERE buyer_response) AS buyer_responses
        FROM engagement WHERE deal_id = %s GROUP BY type ORDER BY type""", (deal_id,))
    return {"deal": rows[0], "timeline": timeline, "engagement": engagement}


REVIEWS = {
    "weekly": "SELECT * FROM review_weekly",
    "monthly": "SELECT * FROM review_monthly",
    "quarterly": "SELECT * FROM review_quarterly_sample(%s, %s)",
}


def review(database_url: str, cadence: str, seed: float = 1.0, per_stage: int = 3) -> list[Row]:
    """An inspection queue ([M2]): weekly late-stage review, monthly stuck mid-stage deals, quarterly sample."""
    params: tuple[Any, ...] = (seed, per_stage) if cadence == "quarterly" else ()
    return _fetch(database_url, REVIEWS[cadence], params)
