"""A plain-Python view of a playbook for the hot path: stage facts by name, thresholds as timedeltas.

Built once per playbook object (playbooks are never changed in place; a changed one, such as
``with_benchmarks``, is a new object) and read by the detectors and gates on every message,
instead of pydantic attribute access and per-call conversions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from schemas.alerts import AlertCoaching
from schemas.playbook import Playbook, Stage


@dataclass(frozen=True, slots=True)
class StageView:
    """One open stage, with its detector thresholds."""

    stage: Stage
    name: str
    index: int
    benchmark_days: float
    late: bool
    exit_criteria: tuple[str, ...]
    required_fields: tuple[str, ...]
    stall_warning: timedelta
    """Time in stage until ``deal.stalled`` (warning): ``stall_warning_ratio`` x benchmark."""
    stall_critical: timedelta
    no_response: bool
    """Whether ``no_response_days`` without a buyer response stalls a deal in this stage."""
    single_threaded: bool
    """Whether this stage is at or after ``single_threaded_from_stage``."""


@dataclass(frozen=True, slots=True)
class PlaybookView:
    """What the detectors and gates read of one playbook."""

    playbook: Playbook
    stages: dict[str, StageView]
    """The open stages by name (the first of equal names, as ``Playbook.stage``)."""
    late_stages: tuple[str, ...]
    """The names of the late stages, in playbook order."""
    no_response: timedelta
    inactive: timedelta
    economic_buyer_silent: timedelta
    single_threaded_window: timedelta
    velocity_recent: timedelta
    velocity_baseline: timedelta
    velocity_offsets: tuple[timedelta, timedelta, timedelta]
    """0, the recent span, and the recent plus the baseline span: where the velocity windows start."""
    velocity_recent_weeks: float
    velocity_baseline_weeks: float
    velocity_drop_ratio: float
    velocity_min_baseline: int
    momentum_repeat: timedelta
    new_stakeholder_after: timedelta
    coaching: dict[tuple[str, str | None], AlertCoaching]
    """``[M1]`` by (alert type, rule); (type, None) for every rule of the type."""
    blocker_codes: frozenset[str]
    stall_points: frozenset[str]
    reengage: timedelta
    """How long a deal in nurture may go without activity (``deal.parked_too_long``)."""


def _build(playbook: Playbook) -> PlaybookView:
    d = playbook.detectors
    from_index = playbook.index(d.single_threaded_from_stage)
    stages: dict[str, StageView] = {}
    for stage in playbook.stages:
        if stage.name in stages:
            continue
        index = playbook.index(stage.name)
        bench = stage.benchmark_days
        stages[stage.name] = StageView(
            stage=stage, name=stage.name, index=index, benchmark_days=bench, late=stage.late,
            exit_criteria=tuple(stage.exit_criteria), required_fields=tuple(stage.required_fields),
            stall_warning=timedelta(days=d.stall_warning_ratio * bench),
            stall_critical=timedelta(days=d.stall_critical_ratio * bench),
            no_response=stage.name in d.no_response_stages, single_threaded=index >= from_index)
    recent, baseline = timedelta(days=d.velocity_recent_days), timedelta(days=d.velocity_baseline_days)
    return PlaybookView(
        playbook=playbook, stages=stages, late_stages=tuple(s.name for s in playbook.stages if s.late),
        no_response=timedelta(days=d.no_response_days), inactive=timedelta(days=d.inactive_days),
        economic_buyer_silent=timedelta(days=d.economic_buyer_silent_days),
        single_threaded_window=timedelta(days=d.single_threaded_window_days),
        velocity_recent=recent, velocity_baseline=baseline,
        velocity_offsets=(timedelta(0), recent, recent + baseline),
        velocity_recent_weeks=d.velocity_recent_days / 7, velocity_baseline_weeks=d.velocity_baseline_days / 7,
        velocity_drop_ratio=d.velocity_drop_ratio, velocity_min_baseline=d.velocity_min_baseline,
        momentum_repeat=timedelta(days=d.momentum_repeat_days),
        new_stakeholder_after=timedelta(days=d.new_stakeholder_after_days),
        coaching={(c.alert, c.rule): AlertCoaching(next_best_action=c.next_best_action, questions=list(c.questions))
                  for c in playbook.coaching},
        blocker_codes=frozenset(b.code for b in playbook.blockers),
        stall_points=frozenset(p.code for p in playbook.stall_points),
        reengage=timedelta(days=playbook.nurture.reengage_days))


_VIEWS: dict[int, PlaybookView] = {}
_MAX_VIEWS = 64


def view_of(playbook: Playbook) -> PlaybookView:
    """The view of ``playbook``, built on first use (the view keeps its playbook, so the id stays its own)."""
    view = _VIEWS.get(id(playbook))
    if view is None or view.playbook is not playbook:
        if len(_VIEWS) >= _MAX_VIEWS:
            _VIEWS.clear()
        view = _VIEWS[id(playbook)] = _build(playbook)
    return view


def team_name(playbook: Playbook, owner_id: str | None) -> str | None:
    """The playbook team of a deal's owner (``[[teams]]``), which every alert of the deal carries."""
    if not playbook.teams:
        return None
    team = playbook.team_of(owner_id)
    return team.name if team is not None else None


def for_owner(playbook: Playbook, owner_id: str | None) -> Playbook:
    """The playbook a deal's detectors use: with its owner's team's thresholds (the same object each time)."""
    return playbook.for_team(team_name(playbook, owner_id)) if playbook.teams else playbook


def coaching_for(playbook: Playbook, alert_type: str, rule: str | None) -> AlertCoaching | None:
    """The playbook's coaching for an alert of ``alert_type`` (and ``rule``), if it has any."""
    coaching = view_of(playbook).coaching
    return coaching.get((alert_type, rule)) or coaching.get((alert_type, None))


def addressing(playbook: Playbook, owner_id: str | None, alert_type: str,
               severity: str) -> tuple[str | None, str | None, str]:
    """(team, manager, addressed_to) of an alert on a deal of ``owner_id`` (``[T1]``).

    A deal entering a late stage and a critical condition are addressed to the team's manager.
    """
    team = playbook.team_of(owner_id) if playbook.teams else None
    if team is None:
        return None, None, "owner"
    to_manager = alert_type == "deal.late_stage_entered" or severity == "critical"
    return team.name, team.manager, "manager" if to_manager else "owner"
