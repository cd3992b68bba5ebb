"""What the win probability is learned from: a deal described by numbers at a moment."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from processors.forecast.history import DealTrack
from schemas.playbook import Playbook

WINDOW = timedelta(days=30)

GENERAL_FEATURES: tuple[tuple[str, str], ...] = (
    ("criteria_met", "share of the current stage's exit criteria evidenced"),
    ("gate_refusals", "stage changes refused for missing evidence"),
    ("time_in_stage", "time in stage against the stage benchmark"),
    ("ghosting", "an open ghosting condition"),
    ("stalled", "an open stall or velocity drop"),
    ("inactive", "an open inactivity or overdue next step"),
    ("economic_buyer_silent", "the economic buyer silent"),
    ("close_date_passed", "the close date passed"),
    ("reply_rate", "share of the last 30 days' emails the buyer answered"),
    ("buyer_touches", "buyer replies, meetings and signals in the last 30 days"),
    ("buyer_silence", "days since the buyer last engaged"),
    ("contacts", "buyer contacts involved"),
    ("economic_buyer_recent", "the economic buyer engaged in the last 30 days"),
    ("regressions", "regressions"),
    ("close_date_slips", "close-date slips"),
    ("close_date_slack", "days to the close date against the stage benchmarks still ahead"),
    ("period_slack", "days to the period's end against the stage benchmarks still ahead"),
    ("age", "the deal's age"),
    ("size", "the deal's amount"),
)
SIGNS: dict[str, int] = {
    "criteria_met": 1, "reply_rate": 1, "buyer_touches": 1, "contacts": 1, "economic_buyer_recent": 1,
    "time_in_stage": -1, "ghosting": -1, "stalled": -1, "inactive": -1, "economic_buyer_silent": -1,
    "close_date_passed": -1, "buyer_silence": -1, "close_date_slips": -1,
}
"""The side of zero a feature's effect is held to: evidence for the buyer never lowers a deal's chance,
a warning sign never raises it. Small histories confound them with progress (only a deal far along
can slip its close date or have its economic buyer go silent), which would otherwise learn that a
slip helps; free: the stage, gate refusals, regressions, the slack, age and size."""
CONDITIONS = ("ghosting", "stalled", "inactive", "economic_buyer_silent", "close_date_passed")


def stage_features(playbook: Playbook) -> list[str]:
    """One indicator per stage a deal can be open in (the playbook's stages and nurture)."""
    return [f"stage={name}" for name in [*playbook.stage_names, playbook.nurture_stage]]


def feature_names(playbook: Playbook) -> list[str]:
    return stage_features(playbook) + [name for name, _ in GENERAL_FEATURES]


def feature_signs(playbook: Playbook) -> list[int]:
    """:data:`SIGNS` in ``feature_names`` order (0: free)."""
    return [SIGNS.get(name, 0) for name in feature_names(playbook)]


def describe(name: str) -> str:
    """The words for a feature in a deal's explanation."""
    if name.startswith("stage="):
        return f"in stage {name.removeprefix('stage=')}"
    return dict(GENERAL_FEATURES)[name]


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def days_ahead(track: DealTrack, moment: datetime, playbook: Playbook) -> float:
    """The benchmark days of the stages still ahead, less the time already spent in this one."""
    names = playbook.stage_names
    if track.stage not in names:
        return sum(s.benchmark_days for s in playbook.stages)
    ahead = sum(s.benchmark_days for s in playbook.stages[names.index(track.stage):])
    return max(0.0, ahead - _days(moment - track.stage_entered_at))


def _slack(days_left: float, days_needed: float) -> float:
    """Months of room (negative: short), clipped to +-3."""
    return max(-3.0, min(3.0, (days_left - days_needed) / 30))


def describe_deal(track: DealTrack, moment: datetime, period_end: datetime, playbook: Playbook) -> list[float]:
    """The deal's features at ``moment``, in ``feature_names`` order (``period_end``: the end of the
    period it counts in)."""
    while track.recent and track.recent[0][0] < moment - WINDOW:
        track.recent.popleft()
    sent = sum(1 for _, kind in track.recent if kind == "email.sent")
    touches = len(track.recent) - sent
    replies = sum(1 for _, kind in track.recent if kind == "email.replied")
    spec = playbook.stage(track.stage)
    criteria = spec.exit_criteria if spec is not None else []
    met = sum(1 for c in criteria if c in track.evidence) / len(criteria) if criteria else 1.0
    benchmark = spec.benchmark_days if spec is not None else 30.0
    open_groups = set(track.open_conditions.values())
    silence = _days(moment - (track.last_buyer_at or track.created_at))
    eb_recent = track.last_economic_buyer_at is not None and moment - track.last_economic_buyer_at <= WINDOW
    ahead = days_ahead(track, moment, playbook)
    stages = [1.0 if name == f"stage={track.stage}" else 0.0 for name in stage_features(playbook)]
    return stages + [
        met,
        math.log1p(track.gate_refusals),
        min(4.0, _days(moment - track.stage_entered_at) / benchmark),
        *(1.0 if group in open_groups else 0.0 for group in CONDITIONS),
        replies / sent if sent else (1.0 if replies else 0.0),
        math.log1p(touches),
        math.log1p(min(90.0, max(0.0, silence))),
        math.log1p(len(track.contacts)),
        1.0 if eb_recent else 0.0,
        float(track.regressions),
        float(track.close_date_slips),
        _slack(_days(datetime.combine(track.close_date, time(), moment.tzinfo) - moment), ahead),
        _slack(_days(period_end - moment), ahead),
        math.log1p(max(0.0, _days(moment - track.created_at))),
        math.log10(max(1.0, track.amount)),
    ]
