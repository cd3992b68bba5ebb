"""How engagement changes a deal's activity history (used by ``evolve``)."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta
from typing import Any

from processors.core.engagement_kinds import engagement_contacts, kinds_of, stakeholders_met
from processors.core.state import MAX_STAKEHOLDERS, BuyerEngagement, DealState

HISTORY = timedelta(days=90)
"""Buyer engagements older than this (behind the newest) are dropped; windows must fit in it."""
MAX_RESPONSE_TIMES = 50
MAX_UNANSWERED = 20


def _time(engagement: BuyerEngagement) -> datetime:
    return engagement.at


def _later(current: datetime | None, at: datetime) -> bool:
    """Whether ``at`` is a new latest moment (so the field changes; an unchanged one stays clean)."""
    return current is None or at > current


def after_engagement(state: DealState, engagement: dict[str, Any], at: datetime,
                     contacts: dict[str, str]) -> dict[str, Any]:
    """State changes for one accepted engagement message at ``at`` (``contacts``: roles after it).

    Only fields whose value changes are given, so no detector input is marked dirty for nothing.
    """
    update: dict[str, Any] = {}
    kinds, touches = kinds_of(engagement), state.unanswered_touch_times
    if kinds.outbound_touch and len(touches) < MAX_UNANSWERED:
        update["unanswered_touch_times"] = sorted([*touches, at])
    if kinds.buyer_response:
        if _later(state.last_buyer_response_at, at):
            update["last_buyer_response_at"] = at
        if touches and at >= touches[0]:
            seconds = (at - touches[0]).total_seconds()
            update["response_times"] = [*state.response_times, seconds][-MAX_RESPONSE_TIMES:]
        if touches:
            update["unanswered_touch_times"] = []
        else:  # none were unanswered (a touch of this same engagement is answered by it)
            update.pop("unanswered_touch_times", None)
    if kinds.buyer_engagement:
        people = engagement_contacts(engagement)
        kept, times = state.buyer_engagements, state.buyer_engagement_times()  # sorted, as the engagements are
        cutoff = at - HISTORY
        if times and times[0] < cutoff:  # the oldest fall out of the window
            start = bisect_left(times, cutoff)
            kept, times = kept[start:], times[start:]
        added = BuyerEngagement.of(at, people)
        # as ``sorted([*kept, added], key=_time)``, which needs sorting only for an engagement out of order
        if not times or times[-1] <= at:
            update["buyer_engagements"], update["engagement_times"] = [*kept, added], [*times, at]
        else:
            engagements = sorted([*kept, added], key=_time)
            update["buyer_engagements"], update["engagement_times"] = engagements, [e.at for e in engagements]
        if "economic_buyer" in map(contacts.get, people):
            if _later(state.last_economic_buyer_at, at):
                update["last_economic_buyer_at"] = at
    if kinds.substantive_discussion:
        if _later(state.last_substantive_at, at):
            update["last_substantive_at"] = at
    if kinds.conversation:
        update["conversations_in_stage"] = state.conversations_in_stage + 1
    people_met = stakeholders_met(engagement)
    if people_met and len(state.stakeholders) < MAX_STAKEHOLDERS:
        met = [person for person in people_met if person not in state.stakeholders]
        if met:
            update["stakeholders"] = sorted({*state.stakeholders, *met})[:MAX_STAKEHOLDERS]
    if engagement.get("type") == "meeting.held":
        update["meetings_held"] = state.meetings_held + 1
        update["longest_meeting_minutes"] = max(state.longest_meeting_minutes, engagement["duration_minutes"])
        update["largest_meeting_attendees"] = max(state.largest_meeting_attendees,
                                                  len(engagement.get("attendees") or []))
    return update
