"""Alerts (topic ``dealflow.alerts``): what needs someone's attention.

Two kinds, told apart by ``kind``:

- a **condition** (stalled, inactive, ghosting, overdue, ...) is *open* from ``raised`` until
  ``resolved``. While open it has one ``alert_id``; a change to it (an escalation, a detail that
  moved on, an acknowledgement, a snooze and its end) is published again with the same id and
  ``status: "updated"``. A deal that closes resolves its open conditions.
- a **notification** (a refused stage change, a late stage entered, momentum, ...) is raised by
  one message, published once with ``status: "raised"`` and is never open.

``notify`` says whether a person should be told about this record (a chat bot or an inbox
follows it): true for a new condition or notification, an escalation of an episode nobody has
acknowledged, and a snoozed condition that still holds when the snooze ends (acknowledged or
not); false otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from schemas.base import Severity, WireModel

AlertKind = Literal["condition", "notification"]
AlertStatus = Literal["raised", "updated", "resolved"]
NOTIFICATION_TYPES = frozenset({"gate.rejected", "deal.late_stage_entered", "stakeholders.review_requested",
                                "momentum.detected", "deal.nurture_suggested"})
"""The alert types raised once by a single message (``kind: "notification"``)."""


class AlertCoaching(WireModel):
    next_best_action: str
    questions: list[str] = Field(default_factory=list)


class Alert(WireModel):
    """The alert envelope shared by every alert type."""

    alert_id: str
    type: str = Field(min_length=1, max_length=64)
    deal_id: str
    severity: Severity
    status: AlertStatus = "raised"
    raised_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    stage: str | None
    owner_id: str | None
    caused_by: str | None
    details: dict[str, Any] = Field(default_factory=dict)
    # Appended fields (a deal's stored open alerts keep the field order): keep new ones last.
    kind: AlertKind = "condition"
    team: str | None = None
    """The team of the deal's owner in the playbook (``[[teams]]``), if any."""
    updated_at: AwareDatetime | None = None
    """When this record's change happened (``status: "updated"``); the raise's own moment otherwise."""
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    snoozed_until: AwareDatetime | None = None
    notify: bool = True
    revision: int = Field(default=0, ge=0)
    """The record's place among the records of its ``alert_id``: 0 for the raise, one more for each
    update and for the resolution, so the newest is the highest even at the same moment."""
    manager: str | None = None
    """The manager of the deal owner's team (``[T1]``), if the playbook names one."""
    addressed_to: Literal["owner", "manager"] = "owner"
    """Who should act: the manager for a deal entering a late stage and a critical condition."""
    coaching: AlertCoaching | None = None
    """``[M1]``: the playbook's next best action and coaching questions for this type (and rule)."""
