"""Rendering the manager views in a terminal (rich tables) or as JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table

from processors.cli.render import details_note
from schemas.playbook import Playbook

Row = dict[str, Any]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_json(data: Any) -> str:
    """JSON for ``--json``: dates as ISO strings, numerics as numbers, result dataclasses as objects."""
    return json.dumps(data, default=_plain, indent=2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.4f}".rstrip("0")
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], dict):  # e.g. the audit sample's evidence rows
            return ", ".join(f"{item.get('criterion', '?')}{'' if item.get('valid', True) else ' (invalid)'}"
                             for item in value)
        return ", ".join(str(v) for v in value)
    return str(value)


def table(title: str, rows: list[Row], columns: list[str] | None = None) -> Table:
    """A rich table of ``rows`` (all columns unless ``columns`` is given)."""
    columns = columns or (list(rows[0]) if rows else [])
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        result.add_row(*(escape(_cell(row.get(column))) for column in columns))
    return result


def blocker_text(row: Row) -> str:
    """A queue row's open blockers (code / stall point: resolution owner by due date), or its blocker status
    ("blocker not identified" for a stuck deal without one)."""
    blockers = row.get("blockers") or []
    if not blockers:
        return str(row.get("blocker_status") or "")
    return "; ".join(f"{b['code']}{' / ' + b['stall_point'] if b.get('stall_point') else ''}: "
                     f"{b['resolution_owner']} by {b['due_date']}{' (overdue)' if b.get('overdue') else ''}"
                     for b in blockers)


def coaching_text(items: list[Row]) -> str:
    """The coaching of open conditions ([M1]): per alert, the next best action and the questions to ask."""
    lines = []
    for item in items:
        to = " (manager)" if item.get("addressed_to") == "manager" else ""
        questions = " Ask: " + " / ".join(item["questions"]) if item.get("questions") else ""
        lines.append(f"{item['type']}{to}: {item['next_best_action']}.{questions}")
    return "\n".join(lines)


HIDDEN_IN_QUEUES = ("blockers", "blocker_status", "stuck_alert_types", "coaching")


def queue_rows(rows: list[Row]) -> list[Row]:
    """Queue rows for a terminal table: the blockers and the coaching as text columns."""
    return [{key: value for key, value in row.items() if key not in HIDDEN_IN_QUEUES}
            | {"blocker": blocker_text(row), "coaching": coaching_text(row.get("coaching") or [])} for row in rows]


def stage_order(playbook: Playbook, rows: list[Row]) -> list[Row]:
    """Open stages in playbook order, then the parking stage, then closed deals."""
    order = {name: i for i, name in enumerate([*playbook.stage_names, playbook.nurture_stage])}
    return sorted(rows, key=lambda r: (r["status"] != "open", r["status"], order.get(r["stage"], 99)))


def _digest_rows(deal: Row, until: datetime) -> list[Row]:
    """A deal's digest as table rows: what needs action first, then what happened in time order, then snoozes."""
    def row(what: str, item: Row, when: Any, note: str) -> Row:
        return {"what": what, "when": when, "alert": item["type"], "severity": item["severity"], "note": note}

    def days(start: datetime, end: datetime) -> str:
        return f"{(end - start).total_seconds() / 86400:.1f} days"

    needs = []
    for item in deal["needs_action"]:
        by = item.get("acknowledged_by")
        owner = f"acknowledged by {by}" if by else "not acknowledged"
        coaching = item.get("coaching") or {}
        advice = f"; next: {coaching['next_best_action']}" if coaching.get("next_best_action") else ""
        needs.append(row("needs action", item, item["raised_at"],
                         f"open {days(item['raised_at'], until)}, {owner}; {details_note(item['details'])}{advice}"))
    events = [row("escalated", item, item["at"], f"{item['from_severity']} -> {item['severity']}")
              for item in deal["escalated"]]
    events += [row("opened", item, item["at"], details_note(item["details"])) for item in deal["opened"]]
    events += [row("resolved", item, item["at"], f"after {days(item['raised_at'], item['at'])} open"
                   if item.get("raised_at") else "") for item in deal["resolved"]]
    events += [row("notification", item, item["at"], details_note(item["details"])) for item in deal["notifications"]]
    snoozed = [row("snoozed", item, item["raised_at"], f"until {_cell(item['snoozed_until'])} UTC")
               for item in deal["snoozed"]]
    return needs + sorted(events, key=lambda r: r["when"]) + snoozed


def digest_tables(found: Row) -> list[RenderableType]:
    """The human form of a digest: a summary line, then one table per deal."""
    who = (f"team {found['team']}" if found["team"] else
           f"manager {found['manager']}" if found.get("manager") else f"owner {found['owner']}")
    totals = found["totals"]
    header = (f"[bold]Alert digest for {escape(who)}[/bold], {_cell(found['since'])} to {_cell(found['until'])} UTC\n"
              f"{totals['opened']} opened, {totals['escalated']} escalated, {totals['resolved']} resolved, "
              f"{totals['needs_action']} need action ({totals['snoozed']} more snoozed), "
              f"{totals['notifications']} notifications")
    tables: list[RenderableType] = [header]
    if not found["deals"]:
        tables.append("Nothing happened to these alerts in the period, and nothing needs action.")
    for deal in found["deals"]:
        name = f"{deal['name']} ({deal['deal_id']})" if deal["name"] else deal["deal_id"]
        facts = ", ".join(str(v) for v in (deal["stage"], deal["status"], deal["owner_id"]) if v)
        tables.append(table(f"{name}: {facts}" if facts else name, _digest_rows(deal, found["until"]),
                            ["what", "when", "alert", "severity", "note"]))
    return tables


def print_tables(*tables: RenderableType) -> None:
    console = Console()
    for item in tables:
        console.print(item)
