"""How accurate the forecast was on the organisation's own history (``dealflow forecast --backtest``).

At every week of every complete period of the log, the forecast is computed as it would have been
then (from what was known then) and compared, once the log is over, with what was won in that
period: for the evidence forecast and for the weighted-pipeline baseline, the absolute percentage
error per period (MAPE: its mean; WAPE: the summed errors over the summed actuals), the signed bias,
and the Brier score and a calibration table of the deal probabilities. Beside them, for reference,
the weighted pipeline as a CRM computes it (``crm_pipeline``: eventual stage win rates x open amount).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processors.forecast.forecast import Forecaster
from processors.forecast.history import LogRecord
from processors.forecast.learning import eventual_win_rates
from processors.forecast.periods import Period, periods_between
from processors.forecast.results import Forecast
from schemas.playbook import Playbook

REPORTED_WEEKS = (2, 4, 8)
METHODS = ("evidence", "baseline", "crm_pipeline")
"""The evidence forecast, the weighted pipeline of within-period stage win rates (the baseline), and the
weighted pipeline of eventual stage win rates (what a CRM shows)."""


@dataclass(frozen=True)
class WeekForecast:
    period: str
    week: int
    model: str
    expected: float
    baseline: float
    crm_pipeline: float
    """Won to date + the eventual stage win rates x the open amount (a CRM's weighted pipeline)."""

    def of(self, method: str) -> float:
        return {"evidence": self.expected, "baseline": self.baseline, "crm_pipeline": self.crm_pipeline}[method]


@dataclass(frozen=True)
class Errors:
    """One method's errors over a set of (period, week) forecasts."""

    forecasts: int
    mape: float | None
    wape: float | None
    bias: float | None


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    deals: int
    mean_probability: float
    won_share: float


@dataclass
class BacktestReport:
    period_kind: str
    periods: list[str]
    actual: dict[str, float]
    weeks: list[WeekForecast]
    errors: dict[str, dict[str, Errors]] = field(default_factory=dict)
    """method -> 'week 2' / 'week 4' / 'week 8' / 'overall' -> errors; the same keys with ', learned model'
    count only the weeks whose forecast came from the learned model (not the stage-rate fallback)."""
    brier: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, list[CalibrationBin]] = field(default_factory=dict)
    scored_deals: int = 0


def _errors(pairs: Sequence[tuple[float, float]]) -> Errors:
    """Errors of (forecast, actual) pairs; periods with nothing won count in WAPE and bias only."""
    if not pairs:
        return Errors(0, None, None, None)
    ratios = [abs(f - a) / a for f, a in pairs if a > 0]
    total = sum(a for _, a in pairs)
    return Errors(len(pairs), sum(ratios) / len(ratios) if ratios else None,
                  sum(abs(f - a) for f, a in pairs) / total if total else None,
                  sum(f - a for f, a in pairs) / total if total else None)


def calibration(scored: Sequence[tuple[float, int]], bins: int = 10) -> list[CalibrationBin]:
    """Deals per probability decile: how many, the mean probability, and the share won."""
    table = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(p, y) for p, y in scored if low <= p < high or (b == bins - 1 and p == 1.0)]
        if members:
            table.append(CalibrationBin(low, high, len(members), round(sum(p for p, _ in members) / len(members), 4),
                                        round(sum(y for _, y in members) / len(members), 4)))
    return table


def complete_periods(records: list[LogRecord], kind: str) -> list[Period]:
    """The periods wholly inside the log."""
    if not records:
        return []
    first, last = records[0].moment, records[-1].moment
    return [p for p in periods_between(first, last, kind) if p.start_at >= first and p.end_at <= last]


def run_forecast_backtest(records: list[LogRecord], playbook: Playbook, kind: str = "quarter",
                          progress: Callable[[str], None] | None = None,
                          each: Callable[[Forecast], None] | None = None) -> BacktestReport:
    """Replay ``records`` and score every weekly forecast of every complete period (``each`` also
    receives every weekly forecast, for example to store it)."""
    forecaster = Forecaster(records, playbook, kind)
    periods = complete_periods(records, kind)
    weeks: list[WeekForecast] = []
    deal_scores: list[tuple[str, str, float, float, float]] = []  # (deal, period, p per method)
    for period in periods:
        week = 0
        while (moment := period.week_start(week)) < period.end_at:
            forecast = forecaster.forecast(moment, period=period.name)
            if each is not None:
                each(forecast)
            line = next((x for x in forecast.lines if x.team is None and x.owner_id is None), None)
            crm = eventual_win_rates(forecaster.history.deals.values(), forecaster.stages)
            crm_open = sum(crm.get(d.stage, 0.0) * d.amount for d in forecast.deals)
            weeks.append(WeekForecast(period.name, week, forecast.model, line.expected if line else 0.0,
                                      line.baseline if line else 0.0,
                                      round((line.won_to_date if line else 0.0) + crm_open, 2)))
            deal_scores += [(d.deal_id, period.name, d.probability, d.baseline_probability, crm.get(d.stage, 0.0))
                            for d in forecast.deals]
            week += 1
        if progress:
            progress(f"{period.name}: {week} weekly forecasts ({forecast.model})")
    if records:
        forecaster.advance(records[-1].moment)
    deals = forecaster.history.deals
    ends = {p.name: p.end_at for p in periods}
    actual = {p.name: 0.0 for p in periods}
    for track in deals.values():
        if track.outcome == "won" and track.closed_at is not None:
            for p in periods:
                if p.contains(track.closed_at):
                    actual[p.name] += track.amount
    report = BacktestReport(kind, [p.name for p in periods], actual, weeks)
    for method in METHODS:
        by_week: dict[str, Errors] = {}
        for suffix, chosen in (("", weeks), (", learned model", [w for w in weeks if w.model == "evidence"])):
            pairs = [(w.week, w.of(method), actual[w.period]) for w in chosen]
            for n in REPORTED_WEEKS:
                by_week[f"week {n}{suffix}"] = _errors([(f, a) for week, f, a in pairs if week == n])
            by_week[f"overall{suffix}"] = _errors([(f, a) for _, f, a in pairs])
        report.errors[method] = by_week
    outcomes: list[tuple[tuple[float, ...], int]] = []  # (probability per method, won within the period)
    for deal_id, period_name, *probabilities in deal_scores:
        track = deals[deal_id]
        won = track.outcome == "won" and track.closed_at is not None and track.closed_at < ends[period_name]
        outcomes.append((tuple(probabilities), int(won)))
    report.scored_deals = len(outcomes)
    for index, method in enumerate(METHODS):
        scored = [(chances[index], won) for chances, won in outcomes]
        report.brier[method] = round(sum((p - y) ** 2 for p, y in scored) / len(scored), 4) if scored else 0.0
        report.calibration[method] = calibration(scored)
    return report
