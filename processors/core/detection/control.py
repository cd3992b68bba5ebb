"""What people do with an open condition alert: acknowledge it (they own it) or snooze it.

The handler that accepts the command and ``evolve`` (applying its fact) change the alert the
same way, through these functions, so replaying the facts rebuilds the open alerts.
"""

from __future__ import annotations

from datetime import datetime

from processors.core.state import DealState, OpenAlert
from schemas.alerts import Alert
from schemas.base import copy_with, trusted


def find_open(state: DealState, alert_id: str) -> tuple[str, OpenAlert] | None:
    """The deal's open alert with ``alert_id`` and its condition key, if it is open."""
    for key, entry in state.open_alerts.items():
        if entry.alert.alert_id == alert_id:
            return key, entry
    return None


def acknowledged(alert: Alert, by: str, at: datetime) -> Alert:
    """``alert`` acknowledged by ``by`` at ``at``: later changes of this episode notify nobody."""
    return copy_with(alert, {"status": "updated", "acknowledged_by": by, "acknowledged_at": at,
                             "updated_at": at, "notify": False, "revision": alert.revision + 1})


def snoozed(alert: Alert, until: datetime, at: datetime) -> Alert:
    """``alert`` snoozed at ``at`` until ``until`` (it comes back then, as the same episode, if it still holds)."""
    return copy_with(alert, {"status": "updated", "snoozed_until": until, "updated_at": at, "notify": False,
                             "revision": alert.revision + 1})


def with_alert(state: DealState, alert_id: str, change: Alert) -> dict[str, OpenAlert] | None:
    """The open alerts with the alert ``alert_id`` replaced by ``change`` (None if it is not open)."""
    found = find_open(state, alert_id)
    if found is None:
        return None
    key, entry = found
    return {**state.open_alerts, key: trusted(OpenAlert, alert=change, identity=entry.identity)}
