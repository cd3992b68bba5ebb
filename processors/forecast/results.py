"""What a forecast says: per deal, and rolled up per period, team and owner."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

COMMIT_AT = 0.7
"""A deal with a win probability at or above this is ``commit``."""
BEST_CASE_AT = 0.4
"""... at or above this (and below ``COMMIT_AT``) ``best_case``; below it ``pipeline``."""


def category_of(probability: float) -> str:
    """``commit`` (p >= 0.7), ``best_case`` (0.4 <= p < 0.7) or ``pipeline`` (p < 0.4)."""
    if probability >= COMMIT_AT:
        return "commit"
    return "best_case" if probability >= BEST_CASE_AT else "pipeline"


@dataclass(frozen=True)
class Factor:
    """One reason a deal's probability moved: its effect in log-odds against an average deal."""

    name: str
    description: str
    effect: float


@dataclass(frozen=True)
class DealForecast:
    deal_id: str
    owner_id: str | None
    team: str | None
    stage: str
    amount: float
    close_date: date
    period: str
    """The period of its close date (a deal whose close-date period is over is in no forecast)."""
    probability: float
    baseline_probability: float
    """The learned win rate of its stage (the weighted-pipeline baseline)."""
    category: str
    factors: tuple[Factor, ...] = ()


@dataclass(frozen=True)
class ForecastLine:
    """One period's forecast for everyone (``team`` and ``owner_id`` None), a team or an owner."""

    period: str
    team: str | None
    owner_id: str | None
    won_to_date: float
    """Won in the period up to the forecast moment."""
    expected: float
    """``won_to_date`` + the sum of probability x amount of the open deals counted in the period."""
    baseline: float
    """``won_to_date`` + the sum of stage win rate x amount (the weighted pipeline)."""
    commit: float
    best_case: float
    pipeline: float
    """The open amount per category (``commit``, ``best_case``, ``pipeline``)."""
    open_deals: int


@dataclass(frozen=True)
class Forecast:
    as_of: datetime
    period_kind: str
    """``quarter`` or ``month``."""
    model: str
    """``evidence`` (the learned model) or ``stage_rates`` (the fallback, too few closed deals)."""
    closed_deals: int
    """Deals closed (won, lost or disqualified) before ``as_of``: the history learned from."""
    lines: tuple[ForecastLine, ...]
    deals: tuple[DealForecast, ...] = field(default=())
