"""Incremental detector evaluation: re-run only the detectors whose inputs or deadline changed.

A detector's answer is a function of a few state fields, the playbook and the moment, and
it stays the same from the moment it was found until its own next wake-up (that is what a
wake-up means). So each deal remembers, per detector, the answer, the input objects it was
found from and the interval it holds for; :func:`find` re-runs a detector only when one of
its inputs is another object (states are never changed in place, so the same object is the
same value), the playbook changed, or the moment left that interval. The answer is the one
:func:`processors.core.detection.detectors.find` gives; ``tests/unit/test_incremental.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import compress
from operator import attrgetter, is_not

from processors.core.detection.detectors import (
    Condition,
    Findings,
    close_date_passed,
    economic_buyer_silent,
    fields_missing,
    ghosting,
    inactive,
    overdue_next_step,
    single_threaded,
    stalled,
    velocity,
)
from processors.core.state import DealState
from schemas.playbook import Playbook

Detector = Callable[[DealState, Playbook, datetime, Findings], None]

FIELDS = ("stage", "stage_entered_at", "last_buyer_response_at", "last_activity_at", "unanswered_touch_times",
          "response_times", "buyer_engagements", "stage_first_entered", "last_economic_buyer_at", "next_step",
          "close_date", "owner_id", "amount")
"""Every state field a detector reads (``fields_missing``: every field a playbook may require)."""
_read = attrgetter(*FIELDS)
_BITS = [1 << bit for bit in range(len(FIELDS))]


def _mask(*names: str) -> int:
    """The bits of ``names`` in :data:`FIELDS`."""
    return sum(1 << FIELDS.index(name) for name in names)


DETECTOR_INPUTS: tuple[tuple[Detector, int, bool], ...] = (
    # (detector, the bits of the fields it reads, whether its details vary with the moment while active)
    (stalled, _mask("stage", "stage_entered_at", "last_buyer_response_at"), False),
    (inactive, _mask("last_activity_at"), False),
    (ghosting, _mask("unanswered_touch_times", "response_times", "stage", "last_buyer_response_at"), False),
    (single_threaded, _mask("stage", "buyer_engagements", "stage_entered_at"), False),
    (economic_buyer_silent, _mask("stage", "stage_first_entered", "last_economic_buyer_at"), False),
    (overdue_next_step, _mask("next_step"), False),
    (close_date_passed, _mask("close_date"), True),  # ``days_past`` counts on
    (fields_missing, _mask("stage", "stage_entered_at", "owner_id", "amount", "close_date", "next_step"), False),
    (velocity, _mask("buyer_engagements"), False),
)
"""Every detector of :data:`processors.core.detection.detectors.DETECTORS`, in its order, with its inputs."""

Answer = tuple[datetime, "datetime | None", list[Condition]]
"""One detector's answer: the moment it was found at, its next wake-up, the conditions active."""


@dataclass(slots=True)
class _Memo:
    """A deal's latest answers; replaced in place by the next evaluation (it is only a cache)."""

    playbook: Playbook
    inputs: tuple[object, ...]
    """The values of :data:`FIELDS` the answers were found from."""
    answers: list[Answer]


_MEMO: dict[str, _Memo] = {}
_MAX_DEALS = 16_384


_UNKNOWN: Answer = (datetime.max.replace(tzinfo=timezone.utc), None, [])
"""A placeholder answer found after every moment, so never used."""


def find(state: DealState, playbook: Playbook, at: datetime) -> Findings:
    """:func:`processors.core.detection.detectors.find`, re-running only the detectors that may have changed."""
    found = Findings()
    if state.status != "open" or not playbook.has_stage(state.stage):
        return found
    inputs = _read(state)
    memo = _MEMO.get(state.deal_id)
    previous: Sequence[Answer] = (_UNKNOWN,) * len(DETECTOR_INPUTS)
    changed = -1  # the bits of the fields whose value is another object than before
    if memo is not None and memo.playbook is playbook:
        previous, changed = memo.answers, sum(compress(_BITS, map(is_not, inputs, memo.inputs)))
    answers: list[Answer] = []
    wake: datetime | None = None
    for (detector, reads, varies), answer in zip(DETECTOR_INPUTS, previous, strict=True):
        if changed & reads or answer[0] > at or (answer[1] is not None and at >= answer[1]) or (varies and answer[2]):
            own = Findings()
            detector(state, playbook, at, own)
            answer = (at, own.next_wake, own.active)
        answers.append(answer)
        if answer[2]:
            found.active += answer[2]
        if answer[1] is not None and (wake is None or answer[1] < wake):
            wake = answer[1]
    found.next_wake = wake
    if memo is not None:
        memo.playbook, memo.inputs, memo.answers = playbook, inputs, answers
    else:
        if len(_MEMO) >= _MAX_DEALS:
            _MEMO.clear()
        _MEMO[state.deal_id] = _Memo(playbook, inputs, answers)
    return found
