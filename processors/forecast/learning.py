"""What the forecast learns from history, as of a moment: deal snapshots with known outcomes,
and the stage win rates of the weighted-pipeline baseline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from processors.forecast.history import DealTrack

MIN_CLOSED_DEALS = 100
"""Closed deals needed before the learned model replaces the stage win rates ..."""
MIN_PER_OUTCOME = 20
"""... with at least this many snapshots won in their period, and as many not."""


@dataclass(frozen=True)
class Snapshot:
    """A deal as it looked at a weekly moment while open, and the end of the period it counted in."""

    deal_id: str
    stage: str
    moment: datetime
    period_end: datetime
    features: tuple[float, ...]


def label(snapshot: Snapshot, track: DealTrack, as_of: datetime) -> int | None:
    """1 if the deal was won within the period it counted in, 0 if not; None until that period ended.

    Waiting for the period's end keeps the history unbiased: a deal won early is known at once,
    one that will not be won only when its period is over, so labelling open periods would learn
    from the quick wins first. ``track`` must stand at ``as_of``.
    """
    if snapshot.period_end > as_of:
        return None
    won = track.outcome == "won" and track.closed_at is not None and track.closed_at < snapshot.period_end
    return 1 if won else 0


@dataclass(frozen=True)
class TrainingSet:
    rows: list[tuple[float, ...]]
    labels: list[int]
    stages: list[str]


def training_set(snapshots: Iterable[Snapshot], deals: dict[str, DealTrack], as_of: datetime) -> TrainingSet:
    """The snapshots whose outcome is known at ``as_of``, with their labels."""
    found = TrainingSet([], [], [])
    for snapshot in snapshots:
        known = label(snapshot, deals[snapshot.deal_id], as_of)
        if known is not None:
            found.rows.append(snapshot.features)
            found.labels.append(known)
            found.stages.append(snapshot.stage)
    return found


def stage_win_rates(history: TrainingSet, deals: Iterable[DealTrack], stages: list[str]) -> dict[str, float]:
    """Per stage, the share of the known snapshots in it that were won within their period.

    The baseline learns from the same history and the same outcome as the model, only without the
    evidence. With no known snapshot yet, :func:`eventual_win_rates`. Laplace-smoothed.
    """
    if not history.rows:
        return eventual_win_rates(deals, stages)
    return _smoothed_rates(zip(history.stages, history.labels, strict=True), stages)


def eventual_win_rates(deals: Iterable[DealTrack], stages: list[str]) -> dict[str, float]:
    """Per stage, the share of the closed deals that reached it that were won, whenever (Laplace-smoothed).

    The stage probability a CRM's weighted pipeline multiplies the open amount by, learned instead of
    configured: how often a deal in the stage is won in the end, not within its period.
    """
    return _smoothed_rates(((stage, int(track.outcome == "won")) for track in deals if track.outcome is not None
                            for stage in track.stages_reached), stages)


def _smoothed_rates(outcomes: Iterable[tuple[str, int]], stages: list[str]) -> dict[str, float]:
    """Per stage, (won + 1) / (seen + 2) over the (stage, won) pairs."""
    seen = dict.fromkeys(stages, 0)
    won = dict.fromkeys(stages, 0)
    for stage, outcome in outcomes:
        if stage in seen:
            seen[stage] += 1
            won[stage] += outcome
    return {stage: (won[stage] + 1) / (seen[stage] + 2) for stage in stages}


def closed_deals(deals: Iterable[DealTrack]) -> int:
    return sum(1 for track in deals if track.outcome is not None)


def enough_history(closed: int, labels: list[int]) -> bool:
    positives = sum(labels)
    return closed >= MIN_CLOSED_DEALS and min(positives, len(labels) - positives) >= MIN_PER_OUTCOME
