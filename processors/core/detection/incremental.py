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

from collections.abc import Callable
from datetime import datetime
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

Answer = tuple[datetime, "datetime | None", list[Condition]]
"""One detector's answer: the moment it was found at, its next wake-up, the conditions active."""


class Answers(NamedTuple):
    """Every detector's latest answer for one deal, and what they add up to."""

    playbook: Playbook
    each: tuple[Answer, ...]
    """Per detector of :data:`DETECTOR_INPUTS`, in its order."""
    active: list[Condition]
    """The conditions of every answer, in detector order (never changed in place). While a
    detector that re-ran found the same conditions, the new answers share this very list, so
    ``answers.active is before.active`` tells that no condition changed."""
    found_at: datetime
    """The latest moment one of the answers was found at (they hold from there on)."""
    wake: datetime | None
    """The earliest wake-up of the answers (they hold until then)."""
    runs: str
    """Which detectors ran (:func:`processors.core.detection.detectors.runs_for`); a change re-runs all."""

    def hold_at(self, at: datetime) -> bool:
        """Whether every answer holds at ``at`` (given that no input changed)."""
        return self.found_at <= at and (self.wake is None or at < self.wake)


_RUNS: dict[str, tuple[int, ...]] = {
    "open": tuple(i for i, detector in enumerate(_DETECTORS) if detector not in NURTURE_DETECTORS),
    "nurture": tuple(i for i, detector in enumerate(_DETECTORS) if detector in NURTURE_DETECTORS),
}
"""The positions of the detectors a deal runs (:func:`processors.core.detection.detectors.runs_for`):
in nurture only :data:`NURTURE_DETECTORS`; in an open stage the others, as the nurture detectors
answer only in the nurture stage, which a playbook never has among its open stages."""


def _nothing_at(at: datetime) -> list[Answer]:
    """Every detector answering nothing, for good, from ``at`` on (those a deal does not run keep it)."""
    return [(at, None, [])] * len(_DETECTORS)


def _readers(dirty: int, runs: str) -> tuple[int, ...]:
    """The positions of the detectors of ``runs`` that read a field marked in ``dirty``."""
    known = _READERS[runs]
    readers = known.get(dirty)
    if readers is None:
        readers = known[dirty] = tuple(i for i in _RUNS[runs] if dirty & _INPUTS[i])
    return readers


_READERS: dict[str, dict[int, tuple[int, ...]]] = {runs: {} for runs in _RUNS}


def _due(each: tuple[Answer, ...], dirty: int, at: datetime, runs: str) -> tuple[int, ...]:
    """The positions of the answers that may not hold at ``at``: an input changed, or the moment
    is outside the interval the answer holds for."""
    due = []
    for i in _RUNS[runs]:
        found, until, _ = each[i]
        if dirty & _INPUTS[i] or found > at or (until is not None and at >= until):
            due.append(i)
    return tuple(due)


def answers_at(state: DealState, playbook: Playbook, at: datetime) -> Answers | None:
    """The detectors' answers at ``at``: ``state.answers`` itself when they all still hold.

    ``None`` for deals that have no conditions: not open. A deal in the parking stage runs only the
    nurture detectors (the others answer nothing).
    """
    runs = runs_for(state, playbook)
    if runs is None:
        return None
    previous: Answers | None = state.answers
    if previous is None or previous.playbook is not playbook or previous.runs != runs:
        return _rerun(state, playbook, at, runs, _nothing_at(at), _RUNS[runs], ALL_DIRTY, None)
    dirty = state.dirty
    if previous.hold_at(at):
        if not dirty:
            return previous
        return _rerun(state, playbook, at, runs, list(previous.each), _readers(dirty, runs), dirty, previous.active)
    return _rerun(state, playbook, at, runs, list(previous.each), _due(previous.each, dirty, at, runs), dirty,
                  previous.active)


def _rerun(state: DealState, playbook: Playbook, at: datetime, runs: str, each: list[Answer],
           rerun: tuple[int, ...], dirty: int, active: list[Condition] | None) -> Answers:
    """The answers ``each`` (changed in place) with the detectors at ``rerun`` run again at ``at``;
    ``active``: the conditions of ``each`` (``None``: not known), kept when those detectors found
    the same conditions.

    A detector whose inputs are unchanged (not in ``dirty``) and whose own wake-up is ``at`` is
    told the conditions it found (:attr:`Findings.held`): they held until ``at``.
    """
    for i in rerun:
        _, until, before = each[i]
        own = Findings(held=before if until == at and not dirty & _INPUTS[i] else ())
        _DETECTORS[i](state, playbook, at, own)
        conditions = own.active
        if conditions == before:
            conditions = before
        else:
            active = None
        each[i] = (at, own.next_wake, conditions)
    if active is None:
        active = [condition for _, _, conditions in each for condition in conditions]
    earliest: datetime | None = None
    for _, until, _ in each:
        if until is not None and (earliest is None or until < earliest):
            earliest = until
    # Something re-ran (else every answer would hold), so the latest answer was found at ``at``.
    return Answers(playbook, tuple(each), active, at, earliest, runs)


def find(state: DealState, playbook: Playbook, at: datetime) -> Findings:
    """:func:`processors.core.detection.detectors.find`, re-running only the detectors that may have changed."""
    answers = answers_at(state, playbook, at)
    if answers is None:
        return Findings()
    return Findings(active=list(answers.active), next_wake=answers.wake)
