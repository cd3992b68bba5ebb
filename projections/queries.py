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


def _fetch(database_url: str, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
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
        UNION ALL
        SELECT at, 'intervention', kind || ' by ' || coalesce(recorded_by, '?') || coalesce(' in ' || stage, '')
               || coalesce(': ' || note, '')
        FROM interventions WHERE deal_id = %(id)s
        UNION ALL
        SELECT identified_at, 'blocker identified', code || coalesce(' / ' || stall_point, '') || ': ' || description
               || ' (' || resolution_owner || ' to ' || resolution_action || ' by ' || due_date || ')'
        FROM blockers WHERE deal_id = %(id)s AND identified_at IS NOT NULL
        UNION ALL
        SELECT resolved_at, 'blocker resolved', coalesce(code, blocker_id) || ' ' || outcome || ' by ' || resolved_by
               || ' after ' || round(days_open, 1) || ' days' || coalesce(': ' || note, '')
        FROM blockers WHERE deal_id = %(id)s AND status = 'resolved'
        ORDER BY 1, 2""", {"id": deal_id})  # type: ignore[arg-type]
    alerts = _fetch(database_url, """
        SELECT type, kind, status, severity, raised_at, updated_at, resolved_at, acknowledged_by, acknowledged_at,
               snoozed_until, kind = 'condition' AND status <> 'resolved' AS open, alert_id, manager, addressed_to,
               coaching
        FROM alerts WHERE deal_id = %s
        ORDER BY kind = 'condition' AND status <> 'resolved' DESC, raised_at, alert_id""", (deal_id,))
    engagement = _fetch(database_url, """
        SELECT type, count(*) AS messages, max(occurred_at) AS last_at,
               count(*) FILTER (WHERE buyer_response) AS buyer_responses
        FROM engagement WHERE deal_id = %s GROUP BY type ORDER BY type""", (deal_id,))
    blockers = _fetch(database_url, f"""SELECT {', '.join(BLOCKER_VIEW)} FROM blockers WHERE deal_id = %s
                                        ORDER BY status, due_date NULLS LAST, blocker_id""", (deal_id,))
    return {"deal": rows[0], "timeline": timeline, "alerts": alerts, "engagement": engagement, "blockers": blockers,
            "coaching": coaching(database_url, [deal_id]).get(deal_id, [])}


BLOCKER_VIEW = ("blocker_id", "status", "code", "stall_point", "stage", "description", "identified_by",
                "identified_at", "resolution_owner", "resolution_action", "due_date", "resolved_at", "outcome",
                "resolved_by", "days_open")
"""The ``blockers`` columns ``dealflow deal`` shows."""


def coaching(database_url: str, deal_ids: list[str]) -> dict[str, list[Row]]:
    """Per deal, the coaching of its open conditions ([M1]): type, rule, next best action, questions, addressee."""
    found: dict[str, list[Row]] = {}
    for row in _fetch(database_url, """
            SELECT deal_id, alert_id, type, rule, severity, addressed_to, next_best_action, questions
            FROM open_coaching WHERE deal_id = ANY(%s) ORDER BY deal_id, type, alert_id""", (deal_ids,)):
        found.setdefault(row.pop("deal_id"), []).append(row)
    return found


_SAMPLE = "deal_id, stage, status, owner_id, amount, evidence"
_SAMPLED = ", ".join(f"s.{name}" for name in _SAMPLE.split(", "))
_MANAGER = "(%(manager)s::text IS NULL OR m.manager = %(manager)s)"
REVIEWS = {
    "weekly": f"""SELECT w.*, coalesce(c.needs_action, 0) AS needs_action,
                         coalesce(c.snoozed_alerts, 0) AS snoozed_alerts,
                         coalesce(c.acknowledged_alerts, 0) AS acknowledged_alerts,
                         m.manager, m.stuck, m.stuck_alert_types, m.blocker_status, m.blockers
                  FROM review_weekly w LEFT JOIN open_conditions_by_deal c ON c.deal_id = w.deal_id
                  JOIN review_weekly_blockers m ON m.deal_id = w.deal_id
                  WHERE {_MANAGER}
                  ORDER BY analytics_stage_position(w.stage) DESC, w.close_date NULLS FIRST, w.deal_id""",
    "monthly": f"""SELECT r.*, m.manager, coalesce(b.blockers, '[]'::jsonb) AS blockers
                   FROM review_monthly r LEFT JOIN deal_managers m ON m.deal_id = r.deal_id
                   LEFT JOIN open_blockers_by_deal b ON b.deal_id = r.deal_id
                   WHERE {_MANAGER}
                   ORDER BY r.ratio DESC, r.deal_id""",
    "quarterly": f"""SELECT {_SAMPLED}, m.manager, coalesce(b.blockers, '[]'::jsonb) AS blockers
                     FROM review_quarterly_sample(%(seed)s, %(per_stage)s) WITH ORDINALITY AS s({_SAMPLE}, n)
                     LEFT JOIN deal_managers m ON m.deal_id = s.deal_id
                     LEFT JOIN open_blockers_by_deal b ON b.deal_id = s.deal_id
                     ORDER BY s.n""",
    "quarterly_manager": f"""SELECT {_SAMPLED}, %(manager)s::text AS manager,
                            coalesce(b.blockers, '[]'::jsonb) AS blockers
                     FROM review_quarterly_sample_for_manager(%(seed)s, %(per_stage)s, %(manager)s)
                          WITH ORDINALITY AS s({_SAMPLE}, n)
                     LEFT JOIN open_blockers_by_deal b ON b.deal_id = s.deal_id
                     ORDER BY s.n""",
}
"""The queues; ``--manager`` keeps the deals whose newest alert carries that manager (``deal_managers``)."""


def review(database_url: str, cadence: str, seed: float = 1.0, per_stage: int = 3,
           manager: str | None = None) -> list[Row]:
    """An inspection queue ([M2]): weekly late-stage review, monthly stuck mid-stage deals, quarterly sample;
    each deal with its open blockers and the coaching of its open conditions; only ``manager``'s deals if given."""
    key = "quarterly_manager" if cadence == "quarterly" and manager is not None else cadence
    params = {"seed": seed, "per_stage": per_stage, "manager": manager}
    rows = _fetch(database_url, REVIEWS[key], params)  # type: ignore[arg-type]
    found = coaching(database_url, [row["deal_id"] for row in rows])
    return [row | {"coaching": found.get(row["deal_id"], [])} for row in rows]
