"""Shared pieces of every message: the envelope, enums and common value types."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

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


_ZERO = timedelta(0)


def on_shared_utc(moment: datetime) -> datetime:
    """``moment``, if it is in UTC, on the one shared ``timezone.utc``: the same moment and the
    same text, but times on one tzinfo object compare without asking each for its offset
    (about ten times faster than on the parser's own UTC offsets)."""
    if moment.tzinfo is not timezone.utc and moment.utcoffset() == _ZERO:
        return moment.replace(tzinfo=timezone.utc)
    return moment


EARLIEST_YEAR, LATEST_YEAR = 1970, 2199
"""Event times outside these years are refused (they would overflow date arithmetic)."""


class Envelope(WireModel):
    """Fields every inbound message carries (the Kafka key is ``deal_id``)."""

    event_id: str = Field(min_length=1, max_length=256)
    deal_id: str = Field(min_length=1, max_length=256)
    occurred_at: AwareDatetime
    source: str | None = Field(default=None, max_length=256)

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: AwareDatetime) -> AwareDatetime:
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValueError(f"event time must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
        return on_shared_utc(value)


class NextStep(WireModel):
    """The agreed next step of a deal."""

    description: str = Field(min_length=1, max_length=2000)
    due_date: date


class Evidence(WireModel):
    """A piece of evidence that a buyer met an exit criterion."""

    kind: EvidenceKind
    reference: str = Field(min_length=1, max_length=2000)
    summary: str | None = Field(default=None, max_length=10000)
