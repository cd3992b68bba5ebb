"""Rendering the manager views in a terminal (rich tables) or as JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas.playbook import Playbook

Row = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_json(data: Any) -> str:
    """JSON for ``--json``: dates as ISO strings, numerics as numbers."""
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


def stage_order(playbook: Playbook, rows: list[Row]) -> list[Row]:
    """Open stages in playbook order, then the parking stage, then closed deals."""
    order = {name: i for i, name in enumerate([*playbook.stage_names, playbook.nurture_stage])}
    return sorted(rows, key=lambda r: (r["status"] != "open", r["status"], order.get(r["stage"], 99)))


def print_tables(*tables: Table) -> None:
    console = Console()
    for item in tables:
        console.print(item)
