"""What an engagement message counts as: an outbound touch, a buyer response, a buyer engagement.

These definitions are part of the contract (README, "Detectors"); the core's detectors and the
projections both use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OUTBOUND_TOUCH = "outbound_touch"

BUYER_ENGAGEMENT_TYPES = frozenset({"email.opened", "content.viewed", "stakeholder.added", "signal.observed"})


def is_outbound_touch(engagement: dict[str, Any]) -> bool:
    """``email.sent``, or an outbound ``call.logged`` that did not connect."""
    kind = engagement.get("type")
    if kind == "email.sent":
        return True
    return kind == "call.logged" and engagement.get("direction") == "outbound" and not engagement.get("connected")


def is_buyer_response(engagement: dict[str, Any]) -> bool:
    """A reply, an inbound or connected call, a meeting held, or a meeting the buyer scheduled.

    An email open is not a response: opens are often machine-generated.
    """
    kind = engagement.get("type")
    if kind in ("email.replied", "meeting.held"):
        return True
    if kind == "call.logged":
        return engagement.get("direction") == "inbound" or bool(engagement.get("connected"))
    return kind == "meeting.scheduled" and engagement.get("initiated_by") == "buyer"


def is_buyer_engagement(engagement: dict[str, Any]) -> bool:
    """A buyer response, an email open, a content view, a new stakeholder or an observed signal."""
    return is_buyer_response(engagement) or engagement.get("type") in BUYER_ENGAGEMENT_TYPES


def engagement_contacts(engagement: dict[str, Any]) -> list[str]:
    """The buyer contacts an engagement message involves."""
    if engagement.get("type") == "meeting.held":
        return [a["contact_id"] for a in engagement.get("attendees") or []]
    if engagement.get("type") == "meeting.scheduled":
        return list(engagement.get("contact_ids") or [])
    contact = engagement.get("contact_id")
    return [contact] if contact else []


def is_substantive_discussion(engagement: dict[str, Any]) -> bool:
    """``[G6]``: a meeting held, a connected call, or pricing feedback from the buyer (not any reply)."""
    kind = engagement.get("type")
    if kind == "meeting.held":
        return True
    if kind == "call.logged":
        return bool(engagement.get("connected"))
    return kind == "signal.observed" and engagement.get("signal") == "pricing_feedback"


def is_conversation(engagement: dict[str, Any]) -> bool:
    """``[G5]``: a substantive buyer conversation: a meeting held or a connected call."""
    kind = engagement.get("type")
    return kind == "meeting.held" or (kind == "call.logged" and bool(engagement.get("connected")))


def stakeholders_met(engagement: dict[str, Any]) -> list[str]:
    """The buyer contacts a message adds to the deal or brings to a meeting held (``[S2]``)."""
    if engagement.get("type") in ("stakeholder.added", "meeting.held"):
        return engagement_contacts(engagement)
    return []


@dataclass(frozen=True, slots=True)
class Kinds:
    """Everything above that one engagement message counts as, found once for it."""

    outbound_touch: bool
    buyer_response: bool
    buyer_engagement: bool
    substantive_discussion: bool
    conversation: bool


def _judged(engagement: dict[str, Any]) -> Kinds:
    return Kinds(outbound_touch=is_outbound_touch(engagement), buyer_response=is_buyer_response(engagement),
                 buyer_engagement=is_buyer_engagement(engagement),
                 substantive_discussion=is_substantive_discussion(engagement), conversation=is_conversation(engagement))


_KINDS_OF_TYPE = {kind: _judged({"type": kind}) for kind in
                  ("email.sent", "email.replied", "email.opened", "meeting.held", "content.viewed",
                   "stakeholder.added")}
"""The kinds of the engagement types whose kinds depend on the type alone (not on a call's
direction, a meeting's initiator or a signal's name)."""


def kinds_of(engagement: dict[str, Any]) -> Kinds:
    """What ``engagement`` counts as (the predicates above, each asked once)."""
    known = _KINDS_OF_TYPE.get(engagement.get("type"))  # type: ignore[arg-type]
    return known if known is not None else _judged(engagement)
