"""The detectors of the manager's workflow: a blocker's resolution overdue, a parked deal forgotten."""

from __future__ import annotations

from datetime import datetime

from processors.core.detection.findings import Condition, Findings, end_of_day, iso_or_none
from processors.core.playbook_view import view_of
from processors.core.state import DealState
from schemas.playbook import Playbook


def blocker_overdue(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    """One condition per open blocker whose resolution's due date has passed (the end of that day, UTC)."""
    if state.stage == playbook.nurture_stage:
        return
    for blocker in state.blockers.values():
        since = end_of_day(blocker.due_date)
        if found.reached(at, since):
            found.active.append(Condition(
                "blocker.overdue", "warning", since, blocker.blocker_id,
                {"blocker_id": blocker.blocker_id, "code": blocker.code, "stall_point": blocker.stall_point,
                 "resolution_owner": blocker.resolution_owner, "action": blocker.action,
                 "due_date": blocker.due_date.isoformat()}, rule=blocker.blocker_id))


def parked_too_long(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    """``[G5]``: a deal in the nurture stage without activity for ``nurture.reengage_days``."""
    last = state.last_activity_at
    if state.stage != playbook.nurture_stage or last is None:
        return
    since = last + view_of(playbook).reengage
    if found.reached(at, since):
        found.active.append(Condition(
            "deal.parked_too_long", "warning", since, last.isoformat(),
            {"parked_since": iso_or_none(state.stage_entered_at), "last_activity_at": iso_or_none(last),
             "reengage_days": playbook.nurture.reengage_days}))
