"""Deal commands (topic ``dealflow.commands``): what the CRM or a rep asks for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, WithJsonSchema

from schemas.base import Envelope, Evidence, NextStep, WireModel

CURRENCY_PATTERN = r"^[A-Z]{3}$"
Currency = Field(default="USD", pattern=CURRENCY_PATTERN)
Text = Field(min_length=1, max_length=512)

AMOUNT_MAX_DIGITS, AMOUNT_DECIMAL_PLACES = 18, 2
AMOUNT_INTEGER_DIGITS = AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES
AMOUNT_PATTERN = rf"^[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(\.[0-9]{{1,{AMOUNT_DECIMAL_PLACES}}})?$"
"""An amount as a string: plain digits, at most 16 before the point and 2 after, no sign or exponent."""

AMOUNT_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": 10**AMOUNT_INTEGER_DIGITS},
        {"type": "string", "pattern": AMOUNT_PATTERN},
    ],
}
"""What the contract promises of an amount, stated here rather than left to pydantic's rendering
of the constraints (which changes between pydantic versions); validation is the ``Field``'s."""

AMOUNT_DESCRIPTION = ("Non-negative, at most 16 digits before the decimal point and at most 2 after it: "
                      "a JSON number, or a string of plain digits such as \"12.50\".")

Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES),
    WithJsonSchema(AMOUNT_JSON_SCHEMA),
]


class DealCreate(Envelope):
    type: Literal["deal.create"]
    name: str = Text
    owner_id: str = Text
    amount: Amount = Field(description=AMOUNT_DESCRIPTION)
    currency: str = Currency
    close_date: date
    stage: str | None = Field(default=None, max_length=64)


class DealUpdate(Envelope):
    """Changes any of the listed fields; fields left out are unchanged."""

    type: Literal["deal.update"]
    name: str | None = Field(default=None, min_length=1, max_length=512)
    owner_id: str | None = Field(default=None, min_length=1, max_length=512)
    amount: Amount | None = Field(default=None, description=AMOUNT_DESCRIPTION)
    currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)
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


class AlertAcknowledge(Envelope):
    """Someone has seen an open condition alert and owns it: no re-notification for this episode."""

    type: Literal["alert.acknowledge"]
    alert_id: str = Field(min_length=1, max_length=64)
    acknowledged_by: str = Text
    note: str | None = Field(default=None, max_length=10000)


class AlertSnooze(Envelope):
    """Silence an open condition alert until ``until``; if it still holds then, it comes back."""

    type: Literal["alert.snooze"]
    alert_id: str = Field(min_length=1, max_length=64)
    until: AwareDatetime
    snoozed_by: str = Text
    note: str | None = Field(default=None, max_length=10000)


class BlockerResolution(WireModel):
    """Who will unblock the deal, how, and by when."""

    owner: str = Text
    action: str = Field(min_length=1, max_length=1000)
    due_date: date


class BlockerRecord(Envelope):
    """What is blocking a stuck deal (``[B1]``-``[B7]``), at which stall point, and its resolution."""

    type: Literal["blocker.record"]
    blocker_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    stall_point: str | None = Field(default=None, max_length=64)
    description: str = Field(min_length=1, max_length=10000)
    identified_by: str = Text
    resolution: BlockerResolution


class BlockerResolve(Envelope):
    type: Literal["blocker.resolve"]
    blocker_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["resolved", "worked_around", "unresolvable"]
    resolved_by: str = Text
    note: str | None = Field(default=None, max_length=10000)


InterventionKind = Literal["executive_introduction", "deal_restructuring", "stakeholder_mapping",
                           "negotiation_support", "disqualification_decision"]
"""``[M3]``: what a manager does for a deal."""


class InterventionRecord(Envelope):
    type: Literal["intervention.record"]
    kind: InterventionKind
    recorded_by: str = Text
    note: str | None = Field(default=None, max_length=10000)


Command = (DealCreate | DealUpdate | EvidenceRecord | StageChange | DealDisqualify | DealClose
           | AlertAcknowledge | AlertSnooze | BlockerRecord | BlockerResolve | InterventionRecord)

COMMAND_MODELS: tuple[type[Envelope], ...] = (
    DealCreate,
    DealUpdate,
    EvidenceRecord,
    StageChange,
    DealDisqualify,
    DealClose,
    AlertAcknowledge,
    AlertSnooze,
    BlockerRecord,
    BlockerResolve,
    InterventionRecord,
)
