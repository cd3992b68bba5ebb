"""Progress signals ([S1]-[S7]) that one engagement message shows, reported at most once per window."""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from processors.core.engagement_kinds import kinds_of, stakeholders_met
from processors.core.playbook_view import view_of
from processors.core.state import DealState
from schemas.playbook import Playbook

MEETINGS_FOR_A_TREND = 2
"""``[S7]``: meetings grow against at least this many held before."""
LONGER = 1.25
"""``longer_meetings``: at least this many times the longest meeting before."""


def _new_stakeholder(state: DealState, engagement: dict[str, Any], at: datetime, playbook: Playbook) -> bool:
    """``[S2]``: someone joins after the deal was set up (added, or at a meeting held), not its first contacts."""
    met = stakeholders_met(engagement)
    if not met or state.created_at is None or at < state.created_at + view_of(playbook).new_stakeholder_after:
        return False
    return any(person not in state.stakeholders for person in met)


def _faster_responses(state: DealState, engagement: dict[str, Any], at: datetime, playbook: Playbook) -> bool:
    """``[S1]``: the buyer's latest responses (this one included) are much faster than before.

    A sustained change: each of the latest ``faster_responses_min`` response times is below
    ``faster_responses_ratio`` x the median of at least as many earlier ones, not one quick reply.
    """
    touches = state.unanswered_touch_times
    if not touches or at < touches[0] or not kinds_of(engagement).buyer_response:
        return False
    first = touches[0]
    d = playbook.detectors
    times = [*state.response_times, (at - first).total_seconds()]
    recent, earlier = times[-d.faster_responses_min:], times[:-d.faster_responses_min]
    if len(earlier) < d.faster_responses_min:
        return False
    bar = d.faster_responses_ratio * median(earlier)
    return all(seconds < bar for seconds in recent)


def shown(state: DealState, engagement: dict[str, Any], at: datetime, playbook: Playbook) -> list[str]:
    """Names of the progress signals in ``engagement``, judged against the deal before it."""
    found: list[str] = []
    kind = engagement.get("type")
    if _new_stakeholder(state, engagement, at, playbook):
        found.append("new_stakeholder")  # [S2]
    if _faster_responses(state, engagement, at, playbook):
        found.append("faster_responses")  # [S1]
    if kind == "signal.observed":
        found.append(str(engagement["signal"]))  # [S3]-[S6]
    if kind == "meeting.held" and state.meetings_held >= MEETINGS_FOR_A_TREND:
        if engagement["duration_minutes"] >= LONGER * state.longest_meeting_minutes > 0:
            found.append("longer_meetings")  # [S7]
        if len(engagement.get("attendees") or []) > state.largest_meeting_attendees:
            found.append("larger_meetings")  # [S7]
    return found


def signals(state: DealState, engagement: dict[str, Any], at: datetime, playbook: Playbook) -> list[str]:
    """The progress signals to report: those shown, unless the deal had momentum reported in the
    last ``momentum_repeat_days`` (so a deal's momentum is reported at most once per window, and
    each signal with it)."""
    reported = state.momentum_reported
    if reported and at - max(reported.values()) < view_of(playbook).momentum_repeat:
        return []
    return shown(state, engagement, at, playbook)
