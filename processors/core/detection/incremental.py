"""Incremental detector evaluation: re-run only the detectors whose inputs or deadline changed.

A detector's answer is a function of a few state fields, the playbook and the moment, and
it stays the same from the moment it was found until its own next wake-up (that is what a
wake-up means). So a deal's state keeps, in memory, the latest :class:`Answers` (per detector:
the moment it was found at, its wake-up and its conditions) and the bits of the detector
inputs changed since (``DealState.dirty``, set by ``DealState.updated``, so by ``evolve``).
:func:`answers_at` re-runs a detector only when one of its inputs changed, the playbook
changed, or the moment left the interval its answer holds for; when none did, it returns the
same :class:`Answers`. The answer is the one :func:`processors.core.detection.detectors.find`
gives; ``tests/unit/test_incremental.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from itertools import chain
from typing import NamedTuple

from processors.core.detection.detectors import (
    NURTURE_DETECTORS,
    Condition,
    Findings,
    close_date_passed,
    economic_buyer_silent,
    fields_missing,
    ghosting,
    inactive,
    overdue_next_step,
    runs_for,
    single_threaded,
    stalled,
    velocity,
)
from processors.core.detection.manager_detectors import blocker_overdue, parked_too_long
from processors.core.state import ALL_DIRTY, FIELD_BITS, DealState
from schemas.playbook import Playbook

Detector = Callable[[DealState, Playbook, datetime, Findings], None]


def _mask(*names: str) -> int:
    """The bits of ``names`` in :data:`processors.core.state.FIELD_BITS`."""
    return sum(FIELD_BITS[name] for name in names)


DETECTOR_INPUTS: tuple[tuple[Detector, int], ...] = (
    # (detector, the bits of the fields it reads)
    (stalled, _mask("stage", "stage_entered_at", "last_substantive_at")),
    (inactive, _mask("last_activity_at")),
    (ghosting, _mask("unanswered_touch_times", "response_times", "stage", "last_buyer_response_at")),
    (single_threaded, _mask("stage", "buyer_engagements", "stage_entered_at")),
    (economic_buyer_silent, _mask("stage", "stage_first_entered", "last_economic_buyer_at")),
    (overdue_next_step, _mask("next_step")),
    (close_date_passed, _mask("close_date")),
    (fields_missing, _mask("stage", "stage_entered_at", "owner_id", "amount", "close_date", "next_step")),
    (velocity, _mask("buyer_engagements")),
    (blocker_overdue, _mask("blockers", "stage")),
    (parked_too_long, _mask("stage", "last_activity_at", "stage_entered_at")),
)
"""Every detector of :data:`processors.core.detection.detectors.DETECTORS`, in its order, with its inputs."""
_DETECTORS = tuple(detector for detector, _ in DETECTOR_INPUTS)
_INPUTS = tuple(reads for _, reads in DETECTOR_INPUTS)

NEVER = datetime.max.replace(tzinfo=timezone.utc)
"""The wake-up of an answer that holds for good (so the earliest wake-up is one ``min``)."""


class Answers(NamedTuple):
    """Every detector's latest answer for one deal, and what they add up to.

    Per detector of :data:`DETECTOR_INPUTS`, in its order: its next wake-up (:data:`NEVER` if
    none) and the conditions it found active; each answer holds from when it was found (at the
    latest ``found_at``) until its wake-up, while its inputs do not change.
    """

    playbook: Playbook
    runs: str
    """Which detectors run (:func:`processors.core.detection.detectors.runs_for`); a change re-runs all."""
    found_at: datetime
    """The latest moment one of the answers was found at."""
    wakes: tuple[datetime, ...]
    conditions: tuple[list[Condition], ...]
    active: list[Condition]
    """The conditions of every answer, in detector order (never changed in place). While the
    detectors that re-ran found the same conditions, the new answers share this very list, so
    ``answers.active is before.active`` tells that no condition changed."""
    wake: datetime | None
    """The earliest wake-up of the answers (they all hold until then)."""
    changed: tuple[int, ...] | None = None
    """The positions of the detectors whose conditions differ from those of the answers these were
    found from (``state.answers``), in order; ``None`` when found afresh."""


_RUNS: dict[str, tuple[int, ...]] = {
    "open": tuple(i for i, detector in enumerate(_DETECTORS) if detector not in NURTURE_DETECTORS),
    "nurture": tuple(i for i, detector in enumerate(_DETECTORS) if detector in NURTURE_DETECTORS),
}
"""The positions of the detectors a deal runs (:func:`processors.core.detection.detectors.runs_for`):
in nurture only :data:`NURTURE_DETECTORS`; in an open stage the others, as the nurture detectors
answer only in the nurture stage, which a playbook never has among its open stages. The
detectors a deal does not run answer nothing, for good."""
_NOTHING_KNOWN: tuple[tuple[datetime, ...], tuple[list[Condition], ...]] = (
    (NEVER,) * len(_DETECTORS), ([],) * len(_DETECTORS))


def _readers(dirty: int, runs: str) -> tuple[int, ...]:
    """The positions of the detectors of ``runs`` that read a field marked in ``dirty``."""
    known = _READERS[runs]
    readers = known.get(dirty)
    if readers is None:
        readers = known[dirty] = tuple(i for i in _RUNS[runs] if dirty & _INPUTS[i])
    return readers


_READERS: dict[str, dict[int, tuple[int, ...]]] = {runs: {} for runs in _RUNS}


def answers_at(state: DealState, playbook: Playbook, at: datetime) -> Answers | None:
    """The detectors' answers at ``at``: ``state.answers`` itself when they all still hold.

    ``None`` for deals that have no conditions: not open. A deal in the parking stage runs only the
    nurture detectors (the others answer nothing). A detector re-runs when one of its inputs
    changed (``state.dirty``) or its wake-up came; all do for another playbook, or for a moment
    before the answers were found.
    """
    runs = runs_for(state, playbook)
    if runs is None:
        return None
    known: Answers | None = state.answers
    if known is None or known.playbook is not playbook or known.runs != runs or at < known.found_at:
        return _rerun(state, playbook, at, runs, *_NOTHING_KNOWN, _RUNS[runs], ALL_DIRTY, None)
    dirty = state.dirty
    rerun: Sequence[int]
    if known.wake is None or at < known.wake:
        if not dirty:
            return known
        rerun = _readers(dirty, runs)
    else:
        wakes = known.wakes
        rerun = [i for i in _RUNS[runs] if dirty & _INPUTS[i] or wakes[i] <= at]
    return _rerun(state, playbook, at, runs, known.wakes, known.conditions, rerun, dirty, known.active)


def _rerun(state: DealState, playbook: Playbook, at: datetime, runs: str, wakes: tuple[datetime, ...],
           conditions: tuple[list[Condition], ...], rerun: Sequence[int], dirty: int,
           active: list[Condition] | None) -> Answers:
    """The answers (``wakes``, ``conditions``) with the detectors at ``rerun`` run again at ``at``.

    ``active``: the conditions of those answers (``None``: not known, so the new answers are found
    afresh), kept when the detectors found the same conditions again. A detector whose inputs are
    unchanged (not in ``dirty``) and whose own wake-up is ``at`` is told the conditions it found
    (:attr:`Findings.held`): they held until ``at``.
    """
    new_wakes, new_conditions = list(wakes), list(conditions)
    changed: list[int] = []
    for i in rerun:
        before = conditions[i]
        own = Findings([], None, before) if not dirty & _INPUTS[i] and wakes[i] == at else Findings([])
        _DETECTORS[i](state, playbook, at, own)
        new_wakes[i] = own.next_wake or NEVER
        if own.active != before:
            new_conditions[i] = own.active
            changed.append(i)
    derived = active is not None
    if changed or active is None:
        active = list(chain.from_iterable(new_conditions))
    earliest = min(new_wakes)
    return Answers(playbook, runs, at, tuple(new_wakes), tuple(new_conditions), active,
                   earliest if earliest != NEVER else None, tuple(changed) if derived else None)


def find(state: DealState, playbook: Playbook, at: datetime) -> Findings:
    """:func:`processors.core.detection.detectors.find`, re-running only the detectors that may have changed."""
    answers = answers_at(state, playbook, at)
    if answers is None:
        return Findings()
    return Findings(active=list(answers.active), next_wake=answers.wake)
