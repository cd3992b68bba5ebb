"""Engagement messages (topic ``dealflow.engagement``): what buyers and reps did."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.base import Envelope, Role, WireModel

ContactId = Field(min_length=1, max_length=256)


class EmailSent(Envelope):
    """A seller-to-buyer email (an outbound touch)."""

    type: Literal["email.sent"]
    contact_id: str = ContactId


class EmailOpened(Envelope):
    type: Literal["email.opened"]
    contact_id: str = ContactId


class EmailReplied(Envelope):
    """A buyer's response by email."""

    type: Literal["email.replied"]
    contact_id: str = ContactId


class CallLogged(Envelope):
    type: Literal["call.logged"]
    contact_id: str = ContactId
    direction: Literal["outbound", "inbound"]
    connected: bool
    duration_minutes: float = Field(ge=0, le=24 * 60)


class MeetingScheduled(Envelope):
    type: Literal["meeting.scheduled"]
    scheduled_for: AwareDatetime
    initiated_by: Literal["buyer", "seller"]
    contact_ids: list[str] = Field(default_factory=list, max_length=500)


class Attendee(WireModel):
    contact_id: str = ContactId
    role: Role | None = None


class MeetingHeld(Envelope):
    type: Literal["meeting.held"]
    duration_minutes: float = Field(ge=0, le=24 * 60)
    attendees: list[Attendee] = Field(default_factory=list, max_length=500)


class ContentViewed(Envelope):
    type: Literal["content.viewed"]
    contact_id: str = ContactId
    content_id: str = Field(min_length=1, max_length=256)
    content_kind: str = Field(min_length=1, max_length=64)


class StakeholderAdded(Envelope):
    type: Literal["stakeholder.added"]
    contact_id: str = ContactId
    role: Role


Signal = Literal[
    "budget_shared",
    "internal_info_shared",
    "buyer_action",
    "implementation_discussed",
    "competitor_discussed",
    "pricing_feedback",
]


class SignalObserved(Envelope):
    type: Literal["signal.observed"]
    signal: Signal
    contact_id: str | None = Field(default=None, max_length=256)
    note: str | None = Field(default=None, max_length=10000)


Engagement = (
    EmailSent
    | EmailOpened
    | EmailReplied
    | CallLogged
    | MeetingScheduled
    | MeetingHeld
    | ContentViewed
    | StakeholderAdded
    | SignalObserved
)

ENGAGEMENT_MODELS: tuple[type[Envelope], ...] = (
    EmailSent,
    EmailOpened,
    EmailReplied,
    CallLogged,
    MeetingScheduled,
    MeetingHeld,
    ContentViewed,
    StakeholderAdded,
    SignalObserved,
)
