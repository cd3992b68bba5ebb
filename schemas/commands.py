"""Deal commands (topic ``dealflow.commands``): what the CRM or a rep asks for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from schemas.base import Envelope, Evidence, NextStep

Currency = Field(default="USD", pattern=r"^[A-Z]{3}$")
Amount = Field(ge=0, max_digits=18, decimal_places=2)
Text = Field(min_length=1, max_length=512)


class DealCreate(Envelope):
    type: Literal["deal.create"]
    name: str = Text
    owner_id: str = Text
    amount: Decimal = Amount
    currency: str = Currency
    close_date: date
    stage: str | None = Field(default=None, max_length=64)


class DealUpdate(Envelope):
    """Changes any of the listed fields; fields left out are unchanged."""

    type: Literal["deal.update"]
    name: str | None = Field(default=None, min_length=1, max_length=512)
    owner_id: str | None = Field(default=None, min_length=1, max_length=512)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    close_date: date | None = None
    next_step: NextStep | None = None


class EvidenceRecord(Envelope):
    type: Literal["evidence.record"]
    criterion: str = Field(min_length=1, max_length=128)
    evidence: Evidence
    recorded_by: str = Text


class StageChange(Envelope):
    """Asks to move a deal; a backward move needs a regression ``reason``."""

    type: Literal["stage.change"]
    to_stage: str = Field(min_length=1, max_length=64)
    requested_by: str = Text
    reason: str | None = Field(default=None, max_length=128)


class DealDisqualify(Envelope):
    type: Literal["deal.disqualify"]
    reason: str = Field(min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=10000)


class DealClose(Envelope):
    type: Literal["deal.close"]
    outcome: Literal["won", "lost"]
    reason: str | None = Field(default=None, max_length=128)


Command = DealCreate | DealUpdate | EvidenceRecord | StageChange | DealDisqualify | DealClose

COMMAND_MODELS: tuple[type[Envelope], ...] = (
    DealCreate,
    DealUpdate,
    EvidenceRecord,
    StageChange,
    DealDisqualify,
    DealClose,
)
