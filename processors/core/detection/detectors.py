"""The detectors: which alert conditions hold for a deal at a moment, and when they next may change.

Each detector looks at the deal state and the moment ``at`` and either reports a condition
that is active (with ``since``, the moment it became true) or a future moment to wake up at.
Windowed detectors find ``since`` by walking back through the moments their windows change
(the shared pieces are in :mod:`processors.core.detection.findings`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta
from statistics import median

from processors.core.detection.findings import (
    DAY,
    Condition,
    Findings,
    as_days,
    end_of_day,
    iso_or_none,
    shifted_descending,
    since_by_walk,
    since_of,
    wake_after,
)
from processors.core.detection.manager_detectors import blocker_overdue, parked_too_long
from processors.core.gates import missing_fields
from processors.core.playbook_view import PlaybookView, view_of
from processors.core.state import BuyerEngagement, DealState
from schemas.base import Severity
from schemas.playbook import Playbook

__all__ = ["DAY", "DETECTORS", "Condition", "Findings", "end_of_day", "find"]

NO_DISCUSSION_RULE = "no_substantive_discussion_in_stage"
"""``[G6]``: a held meeting, a connected call or pricing feedback is a substantive discussion."""


# -- time in stage ([V2], [V3], [G6]) ----------------------------------------------------
def stalled(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    view = view_of(playbook)
    stage = view.stages.get(state.stage or "")
    entered = state.stage_entered_at
    if stage is None or entered is None:
        return
    d = playbook.detectors
    bench = stage.benchmark_days
    # One alert per stay, stalled from the first threshold on: the warning escalates to critical.
    warning, critical = entered + stage.stall_warning, entered + stage.stall_critical
    since = min(warning, critical)
    if found.reached(at, since):
        severity: Severity = "critical" if found.reached(at, critical) else "warning"
        ratio = d.stall_critical_ratio if severity == "critical" else d.stall_warning_ratio
        found.active.append(Condition(
            "deal.stalled", severity, since, f"{stage.name}@{entered.isoformat()}",
            {"days_in_stage": round(ratio * bench, 4), "benchmark_days": bench, "ratio": ratio,
             "rule": "time_in_stage"}, rule="time_in_stage"))
    discussed = state.last_substantive_at is not None and state.last_substantive_at >= entered
    if stage.no_response and not discussed:  # [G6]: no substantive discussion since entering
        since = entered + view.no_response
        if found.reached(at, since):
            found.active.append(Condition(
                "deal.stalled", "warning", since, f"{stage.name}@{entered.isoformat()}",
                {"days_in_stage": d.no_response_days, "benchmark_days": bench,
                 "ratio": round(d.no_response_days / bench, 4), "rule": NO_DISCUSSION_RULE,
                 "days_without_substantive_discussion": d.no_response_days}, rule=NO_DISCUSSION_RULE))


# -- activity ([V3], [V4]) ---------------------------------------------------------------
def inactive(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    last = state.last_activity_at
    if last is None:
        return
    since = last + view_of(playbook).inactive
    if found.reached(at, since):
        found.active.append(Condition("deal.inactive", "warning", since, last.isoformat(),
                                      {"last_activity_at": iso_or_none(last),
                                       "days_inactive": playbook.detectors.inactive_days}))


def ghosting_threshold_days(state: DealState, playbook: Playbook) -> float:
    """7 days, or 3 x the buyer's median response time once 3 were measured, whichever is longer."""
    d = playbook.detectors
    if len(state.response_times) < d.ghosting_min_responses:
        return d.ghosting_silence_days
    return max(d.ghosting_silence_days, d.ghosting_median_multiplier * median(state.response_times) / 86400)


def ghosting(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    touches = state.unanswered_touch_times
    needed = playbook.detectors.ghosting_touches
    if len(touches) < needed:
        return
    threshold = ghosting_threshold_days(state, playbook)
    stage = view_of(playbook).stages.get(state.stage or "")
    severity: Severity = "critical" if stage is not None and stage.late else "warning"
    since = max(touches[0] + as_days(threshold), touches[needed - 1])
    if found.reached(at, since):
        found.active.append(Condition(
            "deal.ghosting", severity, since, touches[0].isoformat(),
            {"unanswered_touches": len(touches), "first_unanswered_at": iso_or_none(touches[0]),
             "last_buyer_response_at": iso_or_none(state.last_buyer_response_at),
             "silence_threshold_days": round(threshold, 4)}))


# -- stakeholders ([B2], [M1]) -----------------------------------------------------------
def single_threaded(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    view = view_of(playbook)
    stage = view.stages.get(state.stage or "")
    if stage is None or not stage.single_threaded:
        return
    if _single_threaded_now(state.buyer_engagements, state.buyer_engagement_times(), view.single_threaded_window,
                            playbook.detectors.single_threaded_min_engagements, at, found):
        _single_threaded_since(state, view, at, found)


def _single_threaded_since(state: DealState, view: PlaybookView, at: datetime, found: Findings) -> None:
    """The condition of :func:`single_threaded`, found by walking back to when it started."""
    d, window = view.playbook.detectors, view.single_threaded_window
    engagements = [e for e in state.buyer_engagements if e.contacts]
    times = [e.at for e in engagements]

    def in_window(x: datetime) -> list[BuyerEngagement]:
        return engagements[bisect_right(times, x - window):bisect_right(times, x)]

    def active_at(x: datetime) -> bool:
        recent = in_window(x)
        return len(recent) >= d.single_threaded_min_engagements and _one_contact(recent)

    wake_after(found, times, (timedelta(0), window), at)
    if not active_at(at):
        return
    since = since_of(active_at, times + [t + window for t in times], at)
    if since is not None:
        contact = in_window(at)[0].contacts[0]
        found.active.append(Condition("deal.single_threaded", "warning", max(since, state.stage_entered_at or since),
                                      contact, {"contact_id": contact, "window_days": d.single_threaded_window_days}))


def _single_threaded_now(engagements: list[BuyerEngagement], times: list[datetime], window: timedelta,
                         needed: int, at: datetime, found: Findings) -> bool:
    """Whether single-threading holds at ``at``, with the wake-ups of the full walk when it does not.

    The cheap common case of :func:`single_threaded`: it looks only at the window before ``at``
    and at the first engagements after its two edges, not at the whole history.
    """
    end, start = bisect_right(times, at), bisect_right(times, at - window)
    if end == len(times) and _never_single_threaded(engagements, start, needed):
        return False
    for first, offset in ((end, timedelta(0)), (start, window)):
        for i in range(first, len(engagements)):
            if engagements[i].contacts:
                found.wake_at(times[i] + offset)
                break
    contact, count = None, 0  # as ``len(recent) >= needed and _one_contact(recent)``, but stops early
    for i in range(start, end):
        for person in engagements[i].contacts:
            if contact is None:
                contact = person
            elif person != contact:
                return False
        count += bool(engagements[i].contacts)
    return count >= needed


def _never_single_threaded(engagements: list[BuyerEngagement], start: int, needed: int) -> bool:
    """Whether single-threading cannot start later without new engagement (none after ``at``).

    The window then only loses its oldest engagements, so it holds a suffix of those from
    ``start``: with fewer than ``needed`` of them (with contacts), or with more than one contact
    among the last ``needed``, no later window is single-threaded (so no wake-up is needed).
    """
    contact, count = None, 0
    for i in range(len(engagements) - 1, start - 1, -1):
        people = engagements[i].contacts
        if not people:
            continue
        for person in people:
            if contact is None:
                contact = person
            elif person != contact:
                return True
        count += 1
        if count == needed:
            return False
    return True


def _one_contact(engagements: list[BuyerEngagement]) -> bool:
    """Whether the engagements (each with contacts) involve exactly one contact between them."""
    contact = engagements[0].contacts[0] if engagements else None
    return contact is not None and all(c == contact for e in engagements for c in e.contacts)


def economic_buyer_silent(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    view = view_of(playbook)
    stage = view.stages.get(state.stage or "")
    if stage is None or not stage.late:
        return
    first_entered = state.stage_first_entered
    late_entries = [first_entered[name] for name in view.late_stages if name in first_entered]
    if not late_entries:
        return
    anchor, last = min(late_entries), state.last_economic_buyer_at  # the later of the two
    if last is not None and last > anchor:
        anchor = last
    days = playbook.detectors.economic_buyer_silent_days
    since = anchor + view.economic_buyer_silent
    if found.reached(at, since):
        found.active.append(Condition("deal.economic_buyer_silent", "warning", since, anchor.isoformat(),
                                      {"last_economic_buyer_engagement_at": iso_or_none(state.last_economic_buyer_at),
                                       "silent_days": days}))


# -- hygiene ([V3], [T2]) ------------------------------------------------------------------
def overdue_next_step(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    step = state.next_step
    if step is None:
        return
    since = end_of_day(step.due_date)
    if found.reached(at, since):
        found.active.append(Condition("next_step.overdue", "warning", since,
                                      f"{step.due_date.isoformat()}|{step.description}",
                                      {"due_date": step.due_date.isoformat(), "description": step.description}))


def close_date_passed(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    if state.close_date is None:
        return
    since = end_of_day(state.close_date)
    if found.reached(at, since):
        days_past = (at - since).days
        found.wake_at(since + (days_past + 1) * DAY)  # the open alert's ``days_past`` counts on daily
        day = state.close_date.isoformat()
        found.active.append(Condition("close_date.passed", "warning", since, day,
                                      {"close_date": day, "days_past": days_past}, live=True))


def fields_missing(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    missing = missing_fields(state, playbook, state.stage or "")
    entered = state.stage_entered_at
    if missing and entered is not None and found.reached(at, entered):
        found.active.append(Condition("fields.missing", "warning", entered,
                                      f"{state.stage}@{entered.isoformat()}|{','.join(missing)}",
                                      {"missing_fields": missing}))


# -- velocity --------------------------------------------------------------------------------
def velocity(state: DealState, playbook: Playbook, at: datetime, found: Findings) -> None:
    view = view_of(playbook)
    times = state.buyer_engagement_times()
    if times and times[-1] <= at:  # no engagement after ``at`` (the usual case): the windows from two positions
        recent_start = bisect_right(times, at - view.velocity_recent)
        baseline_start = bisect_right(times, at - view.velocity_offsets[2])
        if not _dropped(view, len(times) - recent_start, recent_start - baseline_start):
            start = _velocity_next_drop(times, view, recent_start, baseline_start)
            if start is not None:
                found.wake_at(start)
            return
    elif not _velocity_dropped(times, view, at):
        wake_after(found, times, view.velocity_offsets, at)
        return
    wake_after(found, times, view.velocity_offsets, at)
    # Dropped when last found and ever since (``held``): it started when it was found to.
    found.active += found.held or _velocity_drop(times, view, at)


def _velocity_drop(times: list[datetime], view: PlaybookView, at: datetime) -> list[Condition]:
    """The condition of a velocity dropped at ``at``, found by walking back to when it started."""

    def active_at(x: datetime) -> bool:
        return _velocity_dropped(times, view, x)

    since = since_by_walk(active_at, shifted_descending(times, view.velocity_offsets, at), at)
    if since is None:
        return []
    _, recent_rate, baseline_rate = _rates(times, view, since)
    return [Condition("velocity.dropped", "warning", since, "velocity",
                      {"recent_per_week": round(recent_rate, 3), "baseline_per_week": round(baseline_rate, 3)})]


def _rates(times: list[datetime], view: PlaybookView, x: datetime) -> tuple[int, float, float]:
    """Engagements in the baseline window, and the recent and baseline rates per week, at ``x``.

    The windows (x - recent - baseline, x - recent] and (x - recent, x], from three positions.
    """
    now, recent_start = bisect_right(times, x), bisect_right(times, x - view.velocity_recent)
    baseline_start = bisect_right(times, x - view.velocity_offsets[2])
    recent, baseline = now - recent_start, recent_start - baseline_start
    return baseline, recent / view.velocity_recent_weeks, baseline / view.velocity_baseline_weeks


def _dropped(view: PlaybookView, recent: int, baseline: int) -> bool:
    """Whether ``recent`` engagements in the recent window against ``baseline`` in the baseline one are a drop."""
    return baseline >= view.velocity_min_baseline and recent / view.velocity_recent_weeks < (
        view.velocity_drop_ratio * (baseline / view.velocity_baseline_weeks))


def _velocity_dropped(times: list[datetime], view: PlaybookView, x: datetime) -> bool:
    baseline, recent_rate, baseline_rate = _rates(times, view, x)
    return baseline >= view.velocity_min_baseline and recent_rate < view.velocity_drop_ratio * baseline_rate


def _velocity_next_drop(times: list[datetime], view: PlaybookView, recent_start: int,
                        baseline_start: int) -> datetime | None:
    """The first moment velocity drops if no engagement comes, given where the recent and the
    baseline windows start now (every engagement is in the past).

    Without new engagement the windows change only as engagements age: one leaving the recent
    window joins the baseline one (fewer recent, more baseline: a drop may start), one leaving
    the baseline window only lowers the baseline (a drop cannot start). So a drop can start only
    as a recent engagement leaves the recent window. The baseline never holds more than the
    engagements of both windows now, so a moment with too many recent ones for even that
    baseline is passed over.
    """
    end = len(times)
    if end - baseline_start < view.velocity_min_baseline:
        return None  # the baseline window can never hold enough
    ceiling = view.velocity_drop_ratio * ((end - baseline_start) / view.velocity_baseline_weeks)
    recent_weeks, baseline_span = view.velocity_recent_weeks, view.velocity_baseline
    for leaving in range(recent_start, end):
        recent = end - leaving - 1
        if recent / recent_weeks >= ceiling or (recent and times[leaving + 1] == times[leaving]):
            continue  # too many recent ones, or not the last of the engagements leaving then
        # At the moment it leaves the recent window, the baseline window starts one baseline span before it.
        if _dropped(view, recent, leaving + 1 - bisect_right(times, times[leaving] - baseline_span, baseline_start)):
            return times[leaving] + view.velocity_recent
    return None


DETECTORS: tuple[Callable[[DealState, Playbook, datetime, Findings], None], ...] = (
    stalled, inactive, ghosting, single_threaded, economic_buyer_silent, overdue_next_step, close_date_passed,
    fields_missing, velocity, blocker_overdue, parked_too_long,
)
NURTURE_DETECTORS = frozenset({parked_too_long})
"""The only detectors of a deal parked in the nurture stage."""


def runs_for(state: DealState, playbook: Playbook) -> str | None:
    """Which detectors a deal has: ``"open"`` (all), ``"nurture"`` (:data:`NURTURE_DETECTORS`) or None
    (not open: closed, or not created yet)."""
    if state.status != "open":
        return None
    stage = state.stage or ""
    if stage in view_of(playbook).stages:
        return "open"
    return "nurture" if stage == playbook.nurture_stage else None


def find(state: DealState, playbook: Playbook, at: datetime) -> Findings:
    """Conditions active at ``at`` and the future moments they may change.

    Deals in a terminal status have none; a deal in the parking stage only those of :data:`NURTURE_DETECTORS`.
    """
    found = Findings()
    runs = runs_for(state, playbook)
    if runs is None:
        return found
    for detector in DETECTORS:
        if runs == "open" or detector in NURTURE_DETECTORS:
            detector(state, playbook, at, found)
    return found
