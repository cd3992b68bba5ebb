"""The alert digest behind ``dealflow digest``: what happened to an owner's or a team's alerts in a period.

Read from the projection only: ``alert_changes`` (one row per alert record, so per raise, update
and resolution) for what opened, escalated, resolved and which notifications came, and
``open_conditions`` for what still needs action (with the coaching of each). A record belongs to the
owner, the team and the manager it carries, as the alert does (``alerts.owner_id``, ``alerts.team``,
``alerts.manager``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections.alert_rows import SEVERITY_RANK

Row = dict[str, Any]

SECTIONS = ("needs_action", "escalated", "opened", "resolved", "notifications", "snoozed")
"""The lists of each deal of a digest, in the order they are shown."""



def _who(alias: str = "") -> str:
    """SQL: the record is the owner's, the team's or the manager's (one of the three is given)."""
    return f"({alias}owner_id = %(owner)s OR {alias}team = %(team)s OR {alias}manager = %(manager)s)"


_CHANGES = f"""
    WITH history AS (
        SELECT c.*, lag(c.severity) OVER (PARTITION BY c.alert_id ORDER BY c.revision, c.at,
                   CASE c.status WHEN 'raised' THEN 0 WHEN 'updated' THEN 1 ELSE 2 END) AS previous_severity
        FROM alert_changes c
        WHERE c.alert_id IN (SELECT alert_id FROM alert_changes
                             WHERE at >= %(since)s AND {_who()})
    )
    SELECT h.alert_id, h.deal_id, h.type, h.kind, h.status, h.severity, h.previous_severity, h.at, h.details,
           h.acknowledged_by, h.snoozed_until, a.raised_at
    FROM history h LEFT JOIN alerts a ON a.alert_id = h.alert_id
    WHERE h.at >= %(since)s AND h.at <= %(until)s AND {_who("h.")}
    ORDER BY h.deal_id, h.at, h.alert_id"""
_OPEN = """
    SELECT o.alert_id, o.deal_id, o.type, o.severity, o.raised_at, o.updated_at, o.details, o.acknowledged_by,
           o.acknowledged_at, o.snoozed_until, coalesce(o.snoozed_until > %(until)s, false) AS snoozed, a.coaching
    FROM open_conditions o JOIN alerts a ON a.alert_id = o.alert_id
    WHERE (o.owner_id = %(owner)s OR o.team = %(team)s OR a.manager = %(manager)s) AND o.raised_at <= %(until)s
    ORDER BY o.deal_id, CASE o.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, o.raised_at,
             o.alert_id"""
_DEALS = "SELECT deal_id, name, stage, status, owner_id FROM deals WHERE deal_id = ANY(%s)"


def _entry(change: Row) -> tuple[str, Row] | None:
    """The section and entry of one alert record in the period (None: an update that is no escalation)."""
    entry = {"alert_id": change["alert_id"], "type": change["type"], "severity": change["severity"],
             "at": change["at"], "details": change["details"]}
    if change["kind"] == "notification":
        return "notifications", entry
    if change["status"] == "raised":
        return "opened", entry
    if change["status"] == "resolved":
        return "resolved", entry | {"raised_at": change["raised_at"]}
    previous = change["previous_severity"]
    if previous is not None and SEVERITY_RANK.get(change["severity"], 0) > SEVERITY_RANK.get(previous, 0):
        return "escalated", entry | {"from_severity": previous}
    return None


def _deal_order(deal: Row) -> tuple[Any, ...]:
    critical = sum(1 for item in deal["needs_action"] if item["severity"] == "critical")
    events = sum(len(deal[name]) for name in SECTIONS)
    return -critical, -len(deal["needs_action"]), -events, deal["deal_id"]


def digest(database_url: str, owner: str | None, team: str | None, since: datetime, until: datetime,
           manager: str | None = None) -> Row:
    """The digest of ``owner``'s, ``team``'s or ``manager``'s alerts from ``since`` to ``until``, grouped by deal."""
    params = {"owner": owner, "team": team, "manager": manager, "since": since, "until": until}
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        changes = conn.execute(_CHANGES, params).fetchall()
        open_rows = conn.execute(_OPEN, params).fetchall()
        deal_ids = sorted({row["deal_id"] for row in [*changes, *open_rows]})
        known = {row["deal_id"]: row for row in conn.execute(_DEALS, (deal_ids,)).fetchall()}
    deals: dict[str, Row] = {}

    def deal_of(deal_id: str) -> Row:
        if deal_id not in deals:
            row = known.get(deal_id, {})
            deals[deal_id] = {"deal_id": deal_id, "name": row.get("name"), "stage": row.get("stage"),
                              "status": row.get("status"), "owner_id": row.get("owner_id"),
                              **{name: [] for name in SECTIONS}}
        return deals[deal_id]

    for change in changes:
        found = _entry(change)
        if found is not None:
            deal_of(change["deal_id"])[found[0]].append(found[1])
    for row in open_rows:
        entry = {key: row[key] for key in ("alert_id", "type", "severity", "raised_at", "updated_at",
                                           "acknowledged_by", "acknowledged_at", "snoozed_until", "details",
                                           "coaching")}
        deal_of(row["deal_id"])["snoozed" if row["snoozed"] else "needs_action"].append(entry)
    ordered = sorted(deals.values(), key=_deal_order)
    totals = {name: sum(len(deal[name]) for deal in ordered) for name in SECTIONS}
    return {"owner": owner, "team": team, "manager": manager, "since": since, "until": until, "totals": totals,
            "deals": ordered}
