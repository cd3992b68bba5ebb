"""Progress signals ([S1]-[S7]) that one engagement message shows."""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from processors.core.engagement_kinds import is_buyer_response
from processors.core.state import DealState

FASTER_RESPONSE_RATIO = 0.5
MIN_RESPONSES_FOR_SPEED = 2


def signals(state: DealState, engagement: dict[str, Any], at: datetime) -> list[str]:
    """Names of the progress signals in ``engagement``, judged against the deal before it."""
    found: list[str] = []
    kind = engagement.get("type")
    if kind == "stakeholder.added" and engagement["contact_id"] not in state.contacts:
        found.append("new_stakeholder")  # [S2]
    first = state.first_unanswered_at
    if (is_buyer_response(engagement) and first is not None and at >= first
            and len(state.response_times) >= MIN_RESPONSES_FOR_SPEED
            and (at - first).total_seconds() < FASTER_RESPONSE_RATIO * median(state.response_times)):
        found.append("faster_responses")  # [S1]
    if kind == "signal.observed":
        found.append(str(engagement["signal"]))  # [S3]-[S6]
    if kind == "meeting.held" and state.meetings_held > 0:
        if engagement["duration_minutes"] > state.longest_meeting_minutes:
            found.append("longer_meetings")  # [S7]
        if len(engagement.get("attendees") or []) > state.largest_meeting_attendees:
            found.append("larger_meetings")  # [S7]
    return found
