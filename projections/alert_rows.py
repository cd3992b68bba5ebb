"""One alert record (decoded JSON) as the rows it writes, and which of two records of one alert is newer.

Both writers (:mod:`projections.apply` one by one, :mod:`projections.batch_rows` set-based) use these,
so they agree on every rule:

* a record's **moment** is ``resolved_at`` for a resolution, else ``updated_at``, else ``raised_at``;
* of two records with one ``alert_id`` the **newer** is the greater of (``revision``, status
  rank: raised < updated < resolved, moment, severity rank); on a tie the one stored first stays.
  The core numbers an alert's records (``revision``), so a replayed or late older record never
  overwrites a newer one, even one of the same moment; records published before issue 16 carry
  no revision (0) and are ordered by status, then moment;
* the ``alerts`` row holds the newest record's columns, except ``stage`` (the stage of the raise,
  once the raise has been seen) and ``raised_at`` (the earliest given);
* ``alert_changes`` holds one row per record, keyed by (``alert_id``, ``revision``, ``status``, moment);
* ``manager``, ``addressed_to`` (``owner`` for records published before issue 17) and ``coaching``
  (JSON, or NULL) are the newest record's, like the other columns;
* ``kind`` is ``notification`` for the types of :data:`schemas.alerts.NOTIFICATION_TYPES` (records
  published before issue 16 have no ``kind``), else the record's own (``condition`` by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_json

from schemas.alerts import NOTIFICATION_TYPES

Row = dict[str, Any]

ALERT_COLUMNS = ("alert_id", "deal_id", "type", "kind", "severity", "status", "raised_at", "resolved_at", "stage",
                 "owner_id", "team", "caused_by", "details", "updated_at", "acknowledged_by", "acknowledged_at",
                 "snoozed_until", "revision", "manager", "addressed_to", "coaching")
"""The ``alerts`` columns a record fills (``updated_at`` is the record's moment)."""
CHANGE_COLUMNS = ("alert_id", "revision", "status", "at", "deal_id", "type", "kind", "severity", "stage", "owner_id",
                  "team", "details", "acknowledged_by", "acknowledged_at", "snoozed_until", "notify", "manager",
                  "addressed_to")
"""The ``alert_changes`` columns, the key (``alert_id``, ``revision``, ``status``, ``at``) first."""
CHANGE_KEY = 4
"""How many leading :data:`CHANGE_COLUMNS` make the key of ``alert_changes``."""
STATUS_RANK = {"raised": 0, "updated": 1, "resolved": 2}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def json_text(value: Any) -> str:
    """``value`` as compact JSON text, for a ``jsonb`` column (which keeps no formatting): pydantic-core's
    writer, about four times as fast as ``json.dumps``."""
    return to_json(value).decode()


def kind_of(alert: Row) -> str:
    """``notification`` or ``condition`` (see the module's description)."""
    return "notification" if alert["type"] in NOTIFICATION_TYPES else str(alert.get("kind") or "condition")


def moment_of(alert: Row) -> Any:
    """The moment of the record's change: its resolution, its update, or its raise."""
    if alert["status"] == "resolved" and alert.get("resolved_at"):
        return alert["resolved_at"]
    return alert.get("updated_at") or alert["raised_at"]


def alert_row(alert: Row) -> Row:
    """The ``alerts`` columns of one record (``details`` as JSON text)."""
    return {"alert_id": alert["alert_id"], "deal_id": alert["deal_id"], "type": alert["type"],
            "kind": kind_of(alert), "severity": alert["severity"], "status": alert["status"],
            "raised_at": alert["raised_at"], "resolved_at": alert.get("resolved_at"), "stage": alert.get("stage"),
            "owner_id": alert.get("owner_id"), "team": alert.get("team"), "caused_by": alert.get("caused_by"),
            "details": json_text(alert.get("details") or {}), "updated_at": moment_of(alert),
            "acknowledged_by": alert.get("acknowledged_by"), "acknowledged_at": alert.get("acknowledged_at"),
            "snoozed_until": alert.get("snoozed_until"), "revision": int(alert.get("revision") or 0),
            "manager": alert.get("manager"), "addressed_to": alert.get("addressed_to") or "owner",
            "coaching": None if alert.get("coaching") is None else json_text(alert["coaching"])}


def change_row(alert: Row, row: Row | None = None) -> tuple[Any, ...]:
    """The ``alert_changes`` row of one record, in ``CHANGE_COLUMNS`` order (``row``: its :func:`alert_row`)."""
    columns = (alert_row(alert) if row is None else row) | {"at": moment_of(alert),
                                                           "notify": bool(alert.get("notify", True))}
    return tuple(columns[name] for name in CHANGE_COLUMNS)


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _key(row: Row) -> tuple[int, int, datetime, int]:
    return (row.get("revision") or 0, STATUS_RANK[row["status"]], _moment(row["updated_at"]),
            SEVERITY_RANK.get(row["severity"], -1))


def merge(stored: Row, record: Row) -> Row:
    """The ``alerts`` row after ``record`` (an :func:`alert_row`) meets ``stored`` (the same alert's row)."""
    result = record if _key(record) > _key(stored) else stored
    stage = record["stage"] if record["status"] == "raised" else stored["stage"]
    raised_at = min(stored["raised_at"], record["raised_at"], key=_moment)
    return result | {"stage": stage, "raised_at": raised_at}


def _rank_sql(column: str, ranks: dict[str, int]) -> str:
    cases = " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in ranks.items())
    return f"CASE {column} {cases} ELSE -1 END"


def _key_sql(table: str) -> str:
    return (f"ROW({table}.revision, {_rank_sql(f'{table}.status', STATUS_RANK)}, "
            f"coalesce({table}.updated_at, {table}.raised_at), {_rank_sql(f'{table}.severity', SEVERITY_RANK)})")


NEWER = f"{_key_sql('EXCLUDED')} > {_key_sql('alerts')}"
"""SQL: the record being upserted (``EXCLUDED``) is newer than the stored row (``alerts``)."""
_NEWEST = [name for name in ALERT_COLUMNS if name not in ("alert_id", "stage", "raised_at")]
UPSERT_SET = ", ".join(
    [f"{name} = CASE WHEN {NEWER} THEN EXCLUDED.{name} ELSE alerts.{name} END" for name in _NEWEST]
    + ["stage = CASE WHEN EXCLUDED.status = 'raised' THEN EXCLUDED.stage ELSE alerts.stage END",
       "raised_at = LEAST(alerts.raised_at, EXCLUDED.raised_at)"])
"""SQL: ``ON CONFLICT (alert_id) DO UPDATE SET`` what :func:`merge` does."""
