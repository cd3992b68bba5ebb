"""The forecast as of a moment: each open deal's win probability, rolled up per period, team and owner.

A ``Forecaster`` replays the log forward once. At every weekly moment of every period (the
period's first moment, then every 7 days) it keeps a snapshot of each open deal; a forecast as of
``T`` learns from the snapshots before ``T`` whose outcome is known at ``T``, so it is the same
whether the log ends at ``T`` or goes on (``tests/unit/test_forecast.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from processors.forecast.features import describe, describe_deal, feature_names, feature_signs
from processors.forecast.history import DealTrack, History, LogRecord
from processors.forecast.learning import Snapshot, closed_deals, enough_history, stage_win_rates, training_set
from processors.forecast.model import WinModel, fit
from processors.forecast.periods import Period, period_of
from processors.forecast.results import DealForecast, Factor, Forecast, ForecastLine, category_of
from schemas.playbook import Playbook

TOP_FACTORS = 3
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def weekly_moments(first: datetime, kind: str) -> Iterator[datetime]:
    """The first moment of every period from the one holding ``first``, then every 7 days in it."""
    period = period_of(first.date(), kind)
    while True:
        moment = period.start_at
        while moment < period.end_at:
            yield moment
            moment += timedelta(days=7)
        period = period.next()


class Forecaster:
    """Forecasts from one time-ordered log, as of moments that only move forward."""

    def __init__(self, records: list[LogRecord], playbook: Playbook, period_kind: str = "quarter") -> None:
        self.playbook, self.kind = playbook, period_kind
        self.history = History(records)
        self.stages = [*playbook.stage_names, playbook.nurture_stage]
        self.feature_names = feature_names(playbook)
        self.signs = feature_signs(playbook)
        self.snapshots: list[Snapshot] = []
        self._moments = weekly_moments(records[0].moment if records else EPOCH, period_kind)
        self._next = next(self._moments)
        self._model: WinModel | None = None
        self._fitted_on = 0

    def period_of(self, track: DealTrack) -> Period:
        """The period an open deal counts in: its close date's (a deal whose period is over counts in none)."""
        return period_of(track.close_date, self.kind)

    def advance(self, as_of: datetime) -> None:
        while self._next <= as_of:
            self.history.advance(self._next)
            for track in self.history.deals.values():
                period = self.period_of(track)
                if track.outcome is None and period.end_at > self._next:
                    features = describe_deal(track, self._next, period.end_at, self.playbook)
                    self.snapshots.append(Snapshot(track.deal_id, track.stage, self._next, period.end_at,
                                                   tuple(features)))
            self._next = next(self._moments)
        self.history.advance(as_of)

    def forecast(self, as_of: datetime, period: str | None = None, team: str | None = None) -> Forecast:
        """The forecast as of ``as_of``, for one period (or every period with deals) and one team (or all)."""
        self.advance(as_of)
        deals = self.history.deals
        known = training_set(self.snapshots, deals, as_of)
        closed = closed_deals(deals.values())
        rates = stage_win_rates(known, deals.values(), self.stages)
        model = None
        if enough_history(closed, known.labels):
            if len(known.rows) != self._fitted_on:  # the history only grows: as many rows, the same rows
                refitted = fit(known.rows, known.labels, start=self._model, signs=self.signs)
                self._model, self._fitted_on = refitted, len(known.rows)
            model = self._model
        forecasts = [self._deal(track, as_of, model, rates) for track in deals.values()
                     if track.outcome is None and self.period_of(track).end_at > as_of]
        forecasts = [f for f in forecasts if (period is None or f.period == period)
                     and (team is None or f.team == team)]
        won = self._won(as_of, team)
        current = period_of(as_of.date(), self.kind).name
        lines = _lines(forecasts, [w for w in won if period is not None or w[0] >= current], period)
        return Forecast(as_of, self.kind, "evidence" if model else "stage_rates", closed, tuple(lines),
                        tuple(sorted(forecasts, key=lambda f: (f.period, -f.probability * f.amount, f.deal_id))))

    def _team(self, owner_id: str | None) -> str | None:
        found = self.playbook.team_of(owner_id)
        return found.name if found else None

    def _won(self, as_of: datetime, team: str | None) -> list[tuple[str, str | None, str | None, float]]:
        """(period, team, owner, amount) of the deals won by ``as_of``."""
        won = []
        for track in self.history.deals.values():
            if track.outcome == "won" and track.closed_at is not None:
                deal_team = self._team(track.owner_id)
                if team is None or deal_team == team:
                    won.append((period_of(track.closed_at.date(), self.kind).name, deal_team, track.owner_id,
                                track.amount))
        return won

    def _deal(self, track: DealTrack, as_of: datetime, model: WinModel | None,
              rates: dict[str, float]) -> DealForecast:
        baseline = rates.get(track.stage, 0.0)
        probability, factors = baseline, tuple[Factor, ...]()
        if model is not None:
            features = describe_deal(track, as_of, self.period_of(track).end_at, self.playbook)
            probability = model.probability(features)
            factors = self._factors(track.stage, model.effects(features))
        return DealForecast(track.deal_id, track.owner_id, self._team(track.owner_id), track.stage, track.amount,
                            track.close_date, self.period_of(track).name, round(probability, 4),
                            round(baseline, 4), category_of(probability), factors)

    def _factors(self, stage: str, effects: list[float]) -> tuple[Factor, ...]:
        """The few features that moved the probability most (the stage indicators count as one)."""
        by_name: dict[str, float] = defaultdict(float)
        for name, effect in zip(self.feature_names, effects, strict=True):
            by_name[f"stage={stage}" if name.startswith("stage=") else name] += effect
        ranked = sorted(by_name.items(), key=lambda item: (-abs(item[1]), item[0]))[:TOP_FACTORS]
        return tuple(Factor(name, describe(name), round(effect, 3)) for name, effect in ranked)


def _lines(deals: list[DealForecast], won: list[tuple[str, str | None, str | None, float]],
           period: str | None) -> list[ForecastLine]:
    """One line per period for everyone, then per team and per owner."""
    groups: dict[tuple[str, str, str | None], list[DealForecast]] = defaultdict(list)
    won_sums: dict[tuple[str, str, str | None], float] = defaultdict(float)
    for deal in deals:
        for key in ((deal.period, "all", None), (deal.period, "team", deal.team),
                    (deal.period, "owner", deal.owner_id)):
            groups[key].append(deal)
    for won_period, team, owner, amount in won:
        if period is None or won_period == period:
            for key in ((won_period, "all", None), (won_period, "team", team), (won_period, "owner", owner)):
                won_sums[key] += amount
    lines = []
    for key in sorted(set(groups) | set(won_sums), key=lambda k: (k[0], ["all", "team", "owner"].index(k[1]),
                                                                  k[2] or "")):
        name, scope, who = key
        if scope == "team" and who is None:
            continue
        members, won_to_date = groups.get(key, []), won_sums.get(key, 0.0)
        by_category = {c: sum(d.amount for d in members if d.category == c)
                       for c in ("commit", "best_case", "pipeline")}
        lines.append(ForecastLine(
            name, who if scope == "team" else None, who if scope == "owner" else None, round(won_to_date, 2),
            round(won_to_date + sum(d.probability * d.amount for d in members), 2),
            round(won_to_date + sum(d.baseline_probability * d.amount for d in members), 2),
            round(by_category["commit"], 2), round(by_category["best_case"], 2), round(by_category["pipeline"], 2),
            len(members)))
    return lines
