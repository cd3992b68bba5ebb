"""Shared pieces of every message: the envelope, enums and common value types."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Role = Literal[
    "economic_buyer",
    "decision_maker",
    "champion",
    "technical",
    "legal",
    "procurement",
    "finance",
    "executive",
    "user",
    "other",
]

EvidenceKind = Literal[
    "meeting_notes",
    "email",
    "document",
    "technical_evaluation",
    "proposal_request",
    "contract_review",
    "purchase_order",
    "other",
]

Severity = Literal["info", "warning", "critical"]

NonEmpty = Field(min_length=1, max_length=512)


class WireModel(BaseModel):
    """Base of every wire message: unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(WireModel):
    """Fields every inbound message carries (the Kafka key is ``deal_id``)."""

    event_id: str = Field(min_length=1, max_length=256)
    deal_id: str = Field(min_length=1, max_length=256)
    occurred_at: AwareDatetime
    source: str | None = Field(default=None, max_length=256)


class NextStep(WireModel):
    """The agreed next step of a deal."""

    description: str = Field(min_length=1, max_length=2000)
    due_date: date


class Evidence(WireModel):
    """A piece of evidence that a buyer met an exit criterion."""

    kind: EvidenceKind
    reference: str = Field(min_length=1, max_length=2000)
    summary: str | None = Field(default=None, max_length=10000)
