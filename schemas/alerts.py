"""Alerts (topic ``dealflow.alerts``): what needs someone's attention.

An alert is published with ``status: "raised"``; condition alerts are published again with
the same ``alert_id`` and ``status: "resolved"`` when the condition clears.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from schemas.base import Severity, WireModel


class Alert(WireModel):
    """The alert envelope shared by every alert type."""

    alert_id: str
    type: str = Field(min_length=1, max_length=64)
    deal_id: str
    severity: Severity
    status: Literal["raised", "resolved"] = "raised"
    raised_at: AwareDatetime
    resolved_at: AwareDatetime | None = None
    stage: str | None
    owner_id: str | None
    caused_by: str | None
    details: dict[str, Any] = Field(default_factory=dict)
