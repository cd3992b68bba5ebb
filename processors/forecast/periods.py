"""Forecast periods: the month or quarter of a close date (``2027-Q1``, ``2027-03``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month or quarter, in UTC."""

    start: date
    end: date  # exclusive
    name: str

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, 1, tzinfo=timezone.utc)

    @property
    def end_at(self) -> datetime:
        return datetime(self.end.year, self.end.month, 1, tzinfo=timezone.utc)

    def contains(self, moment: datetime) -> bool:
        return self.start_at <= moment < self.end_at

    def week_start(self, week: int) -> datetime:
        """The moment ``week`` weeks into the period (week 0 is its first moment)."""
        return self.start_at + timedelta(weeks=week)

    def next(self) -> "Period":
        return period_of(self.end, "quarter" if "Q" in self.name else "month")


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def period_of(day: date, kind: str) -> Period:
    """The month or quarter (``kind``) ``day`` falls in."""
    if kind == "month":
        start = date(day.year, day.month, 1)
        return Period(start, _month_start(day.year, day.month + 1), f"{day.year}-{day.month:02d}")
    if kind != "quarter":
        raise ValueError(f"a period is a 'month' or a 'quarter', not {kind!r}")
    quarter = (day.month - 1) // 3
    start = date(day.year, quarter * 3 + 1, 1)
    return Period(start, _month_start(day.year, quarter * 3 + 4), f"{day.year}-Q{quarter + 1}")


def parse_period(text: str) -> Period:
    """``2027-Q1`` or ``2027-03``; a ``ValueError`` that says what is expected otherwise."""
    if match := _QUARTER.match(text):
        return period_of(date(int(match[1]), 3 * int(match[2]) - 2, 1), "quarter")
    if match := _MONTH.match(text):
        return period_of(date(int(match[1]), int(match[2]), 1), "month")
    raise ValueError(f"a period is a quarter like 2027-Q1 or a month like 2027-03, not {text!r}")


def periods_between(first: datetime, last: datetime, kind: str) -> list[Period]:
    """Every period from the one holding ``first`` to the one holding ``last``."""
    periods = [period_of(first.date(), kind)]
    while periods[-1].end_at <= last:
        periods.append(periods[-1].next())
    return periods
