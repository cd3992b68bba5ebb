"""Facts (topic ``dealflow.events``): what Dealflow accepted as having happened.

Facts are past tense, derive their ``event_id`` from the causing message (so reprocessing
yields the same ids) and are the source of truth for the projections.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, PlainSerializer

from schemas.base import Evidence, NextStep, WireModel

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]

RejectionReason = Literal[
    "exit_criteria_unmet",
    "missing_fields",
    "reason_required",
    "invalid_reason",
    "unknown_criterion",
    "invalid_transition",
    "deal_closed",
    "unknown_deal",
    "already_exists",
    "unknown_alert",
    "invalid_snooze",
    "unknown_blocker_code",
    "unknown_stall_point",
    "blocker_exists",
    "unknown_blocker",
]


class Fact(WireModel):
    """Fields every fact carries."""

    event_id: str
    deal_id: str
    occurred_at: AwareDatetime
    caused_by: str | None


class DealCreated(Fact):
    type: Literal["deal.created"] = "deal.created"
    name: str
    owner_id: str
    amount: Money
    currency: str
    close_date: date
    stage: str
    imported: bool = False


class FieldChange(WireModel):
    old: Any
    new: Any


class DealUpdated(Fact):
    """Changed fields with old and new values (close-date slips stay visible)."""

    type: Literal["deal.updated"] = "deal.updated"
    changes: dict[str, FieldChange]


class EngagementRecorded(Fact):
    """An accepted engagement message, kept whole so state can be rebuilt from the log."""

    type: Literal["engagement.recorded"] = "engagement.recorded"
    engagement_type: str
    engagement: dict[str, Any]
    momentum: list[str] = Field(default_factory=list)
    """The progress signals it showed that were reported (``momentum.detected``); each is
    reported once per deal within the playbook's ``momentum_repeat_days``."""


class EvidenceRecorded(Fact):
    type: Literal["evidence.recorded"] = "evidence.recorded"
    criterion: str
    evidence: Evidence
    recorded_by: str
    source_event_id: str


class EvidenceInvalidated(Fact):
    type: Literal["evidence.invalidated"] = "evidence.invalidated"
    criterion: str
    reason: str


class StageChangeFact(Fact):
    """Fields every stage change carries."""

    from_stage: str
    to_stage: str
    days_in_from_stage: float
    reason: str | None = None


class StageAdvanced(StageChangeFact):
    type: Literal["stage.advanced"] = "stage.advanced"
    requested_by: str
    next_step: NextStep | None = None


class StageRegressed(StageChangeFact):
    type: Literal["stage.regressed"] = "stage.regressed"
    requested_by: str


class DealNurtured(StageChangeFact):
    type: Literal["deal.nurtured"] = "deal.nurtured"
    requested_by: str


class DealDisqualified(StageChangeFact):
    type: Literal["deal.disqualified"] = "deal.disqualified"
    note: str | None = None


class DealWon(StageChangeFact):
    type: Literal["deal.won"] = "deal.won"


class DealLost(StageChangeFact):
    type: Literal["deal.lost"] = "deal.lost"


class CommandRejected(Fact):
    """A refused command: the gate said no, with everything that was missing."""

    type: Literal["command.rejected"] = "command.rejected"
    command_type: str
    requested: dict[str, Any]
    reason: RejectionReason
    message: str
    missing_criteria: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list)


class AlertAcknowledged(Fact):
    """An open condition alert was acknowledged (``alert.acknowledge``)."""

    type: Literal["alert.acknowledged"] = "alert.acknowledged"
    alert_id: str
    alert_type: str
    acknowledged_by: str
    note: str | None = None


class AlertSnoozed(Fact):
    """An open condition alert was snoozed until ``until`` (``alert.snooze``)."""

    type: Literal["alert.snoozed"] = "alert.snoozed"
    alert_id: str
    alert_type: str
    until: AwareDatetime
    snoozed_by: str
    note: str | None = None


class BlockerIdentified(Fact):
    """``blocker.record`` accepted: what blocks the deal, in which stage, and who resolves it by when."""

    type: Literal["blocker.identified"] = "blocker.identified"
    blocker_id: str
    code: str
    stall_point: str | None
    stage: str | None
    description: str
    identified_by: str
    resolution_owner: str
    resolution_action: str
    due_date: date


class BlockerResolved(Fact):
    type: Literal["blocker.resolved"] = "blocker.resolved"
    blocker_id: str
    code: str
    outcome: str
    resolved_by: str
    note: str | None = None
    days_open: float


class InterventionRecorded(Fact):
    """``[M3]``: a manager's intervention on the deal."""

    type: Literal["intervention.recorded"] = "intervention.recorded"
    kind: str
    stage: str | None
    recorded_by: str
    note: str | None = None


AnyFact = Annotated[
    DealCreated
    | DealUpdated
    | EngagementRecorded
    | EvidenceRecorded
    | EvidenceInvalidated
    | StageAdvanced
    | StageRegressed
    | DealNurtured
    | DealDisqualified
    | DealWon
    | DealLost
    | CommandRejected
    | AlertAcknowledged
    | AlertSnoozed
    | BlockerIdentified
    | BlockerResolved
    | InterventionRecorded,
    Field(discriminator="type"),
]

FACT_MODELS: tuple[type[Fact], ...] = (
    DealCreated,
    DealUpdated,
    EngagementRecorded,
    EvidenceRecorded,
    EvidenceInvalidated,
    StageAdvanced,
    StageRegressed,
    DealNurtured,
    DealDisqualified,
    DealWon,
    DealLost,
    CommandRejected,
    AlertAcknowledged,
    AlertSnoozed,
    BlockerIdentified,
    BlockerResolved,
    InterventionRecorded,
)
