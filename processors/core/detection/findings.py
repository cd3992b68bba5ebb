"""What the detectors report: conditions that hold, the next moment to wake up, and the time
helpers the windowed detectors share to find when a condition became true."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple

from schemas.base import Severity

DAY = timedelta(days=1)


class Condition(NamedTuple):
    """An alert condition that holds; ``identity`` changes when it is a new episode."""

    type: str
    severity: Severity
    since: datetime
    identity: str
    details: dict[str, Any]
    rule: str | None = None
    live: bool = False
    """Whether the open alert follows changes of ``details`` (else only of ``severity``)."""

    @property
    def key(self) -> str:
        """One open alert per deal, type and rule: an escalation updates it."""
        return f"{self.type}/{self.rule or '-'}"


@dataclass(slots=True)
class Findings:
    active: list[Condition] = field(default_factory=list)
    next_wake: datetime | None = None
    """The earliest moment after the evaluation at which a condition may change."""
    held: Sequence[Condition] = ()
    """The conditions the detector found before, when they held until now: its inputs are
    unchanged and this is its own wake-up (see :mod:`processors.core.detection.incremental`)."""

    def wake_at(self, moment: datetime) -> None:
        if self.next_wake is None or moment < self.next_wake:
            self.next_wake = moment

    def reached(self, at: datetime, since: datetime) -> bool:
        """Whether a threshold at ``since`` is reached at ``at``; if not yet, wake up then.

        Detectors build their :class:`Condition` (details and all) only when this is true.
        """
        if since <= at:
            return True
        self.wake_at(since)
        return False


@lru_cache(maxsize=256)
def as_days(value: float) -> timedelta:
    """``value`` days (the values are the playbook's thresholds, so there are few of them)."""
    return timedelta(days=value)


@lru_cache(maxsize=4096)
def end_of_day(day: date) -> datetime:
    """The moment a date passes: the end of that day in UTC."""
    return datetime.combine(day + DAY, time(0), tzinfo=timezone.utc)


def iso_or_none(moment: datetime | None) -> str | None:
    """RFC 3339, with ``Z`` for UTC as in the wire format's own timestamps."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def since_of(active_at: Callable[[datetime], bool], points: Iterable[datetime], at: datetime) -> datetime | None:
    """The moment a piecewise-constant condition last became true, if it holds at ``at``.

    ``points`` are the moments the condition may change; it is constant from one to the next.
    """
    return since_by_walk(active_at, iter(sorted({p for p in points if p <= at}, reverse=True)), at)


def since_by_walk(active_at: Callable[[datetime], bool], past: Iterator[datetime], at: datetime) -> datetime | None:
    """:func:`since_of`, given the distinct moments up to ``at`` the condition may change, latest first."""
    if not active_at(at):
        return None
    since = next(past, at)
    for point in past:
        if not active_at(point):
            break
        since = point
    return since


def shifted_descending(times: list[datetime], offsets: tuple[timedelta, ...], at: datetime) -> Iterator[datetime]:
    """The distinct moments ``t + offset`` up to ``at`` (``t`` in ``times``, sorted), latest first.

    As ``sorted({t + offset for t in times for offset in offsets if ... <= at}, reverse=True)``
    (of equal moments, the one from the earliest time, as the set keeps), but lazily: a walk
    back usually stops after a few moments.
    """
    positions = [bisect_right(times, at - offset) - 1 for offset in offsets]
    while True:
        latest: datetime | None = None
        for position, offset in zip(positions, offsets, strict=True):
            if position >= 0 and (latest is None or times[position] + offset > latest):
                latest = times[position] + offset
        if latest is None:
            return
        first, shift = len(times), offsets[0]
        for k, offset in enumerate(offsets):
            while positions[k] >= 0 and times[positions[k]] + offset == latest:
                if positions[k] < first:
                    first, shift = positions[k], offset
                positions[k] -= 1
        yield times[first] + shift


def wake_after(found: Findings, times: list[datetime], offsets: Iterable[timedelta], at: datetime) -> None:
    """Wake at the first moment after ``at`` that a time in ``times`` (sorted) plus an offset reaches."""
    for offset in offsets:
        i = bisect_right(times, at - offset)
        if i < len(times):
            found.wake_at(times[i] + offset)
