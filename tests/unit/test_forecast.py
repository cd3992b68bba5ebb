"""Issue 18: the evidence forecast learns only from the past, and says how accurate it was."""

from __future__ import annotations

import io
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from processors.forecast.accuracy import METHODS, calibration, run_forecast_backtest
from processors.forecast.forecast import Forecaster
from processors.forecast.history import DealTrack, log_records
from processors.forecast.learning import TrainingSet, eventual_win_rates, stage_win_rates
from processors.forecast.model import fit
from processors.forecast.periods import parse_period, period_of
from processors.forecast.results import category_of
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import load_json_lines, run_backtest
from processors.tools.simulate import SimulationSettings, simulate

END = datetime(2026, 12, 1, tzinfo=timezone.utc)
AS_OF = datetime(2026, 8, 12, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def log() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The facts and alerts of a simulated organisation's year."""
    playbook = default_playbook()
    stream = simulate(SimulationSettings(deals=500, days=365, seed=4), playbook, END)
    alerts, facts = io.BytesIO(), io.BytesIO()
    run_backtest([json.dumps(m) for m in stream], playbook, alerts, facts)
    return load_json_lines(facts.getvalue()), load_json_lines(alerts.getvalue())


def test_a_forecast_as_of_t_is_the_same_without_anything_after_t(log) -> None:  # type: ignore[no-untyped-def]
    facts, alerts = log
    playbook = default_playbook()
    full = Forecaster(log_records(facts, alerts), playbook, "month").forecast(AS_OF)
    cut = [r for r in log_records(facts, alerts) if r.moment <= AS_OF]
    truncated = Forecaster(cut, playbook, "month").forecast(AS_OF)
    assert full.model == "evidence" and len(full.deals) > 50, "the learned model must be the one under test"
    assert full == truncated
    assert any(d.probability != d.baseline_probability for d in full.deals)


def test_the_forecast_adds_up_and_categorises(log) -> None:  # type: ignore[no-untyped-def]
    forecast = Forecaster(log_records(*log), default_playbook(), "month").forecast(AS_OF)
    for line in (x for x in forecast.lines if x.team is None and x.owner_id is None):
        deals = [d for d in forecast.deals if d.period == line.period]
        assert line.expected == pytest.approx(line.won_to_date + sum(d.probability * d.amount for d in deals), abs=1)
        assert line.baseline == pytest.approx(line.won_to_date + sum(d.baseline_probability * d.amount
                                                                     for d in deals), abs=1)
        assert line.commit + line.best_case + line.pipeline == pytest.approx(sum(d.amount for d in deals), abs=1)
        assert line.open_deals == len(deals)
    owners = sum(x.expected for x in forecast.lines if x.owner_id is not None)
    assert owners == pytest.approx(sum(x.expected for x in forecast.lines if x.team is None and x.owner_id is None),
                                   abs=5)
    assert all(len(d.factors) == 3 and d.factors[0].description for d in forecast.deals)
    assert all(d.period == period_of(d.close_date, "month").name for d in forecast.deals)


def test_too_little_history_falls_back_to_stage_win_rates(log) -> None:  # type: ignore[no-untyped-def]
    early = Forecaster(log_records(*log), default_playbook()).forecast(END - timedelta(days=300))
    assert early.model == "stage_rates"
    assert all(d.probability == d.baseline_probability and not d.factors for d in early.deals)


def test_the_backtest_scores_every_method(log) -> None:  # type: ignore[no-untyped-def]
    report = run_forecast_backtest(log_records(*log), default_playbook(), "month")
    assert report.periods and set(report.errors) == {"evidence", "baseline", "crm_pipeline"} == set(METHODS)
    assert {w.period for w in report.weeks} == set(report.periods)
    for method in METHODS:
        assert sum(b.deals for b in report.calibration[method]) == report.scored_deals
        assert report.errors[method]["overall"].forecasts == len(report.weeks)
    assert report.brier["evidence"] < report.brier["baseline"] < report.brier["crm_pipeline"]
    # eventual win rates count wins after the period too: a CRM's weighted pipeline is above the baseline
    assert sum(w.crm_pipeline for w in report.weeks) > sum(w.baseline for w in report.weeks)


def test_eventual_win_rates_count_closed_deals_by_the_stages_they_reached() -> None:
    at = END - timedelta(days=90)

    def track(deal_id: str, reached: set[str], outcome: str | None) -> DealTrack:
        return DealTrack(deal_id, at, "rep-1", 1000.0, END.date(), "discovery", at, reached, outcome=outcome)
    deals = [track("won", {"discovery", "qualification"}, "won"), track("lost", {"discovery"}, "lost"),
             track("open", {"discovery", "proposal"}, None)]
    stages = ["discovery", "qualification", "proposal"]
    rates = eventual_win_rates(deals, stages)
    assert rates == {"discovery": (1 + 1) / (2 + 2), "qualification": (1 + 1) / (1 + 2), "proposal": 0.5}
    assert stage_win_rates(TrainingSet([], [], []), deals, stages) == rates


def test_logistic_fit_recovers_a_signal_and_is_calibrated() -> None:
    rng = random.Random(1)
    rows = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(3000)]
    labels = [int(rng.random() < 1 / (1 + 2.718281828 ** -(1.5 * x - 0.5))) for x, _ in rows]
    model = fit(rows, labels)
    assert model.coefficients[0] > 1.0 and abs(model.coefficients[1]) < 0.15
    mean_p = sum(model.probability(r) for r in rows) / len(rows)
    assert mean_p == pytest.approx(sum(labels) / len(labels), abs=0.01)
    table = calibration([(model.probability(r), y) for r, y in zip(rows, labels, strict=True)])
    assert all(abs(b.mean_probability - b.won_share) < 0.1 for b in table if b.deals > 100)


def test_a_signed_coefficient_stays_on_its_side_of_zero() -> None:
    rng = random.Random(2)
    rows = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(3000)]
    labels = [int(rng.random() < 1 / (1 + 2.718281828 ** -(1.2 * x + 0.8 * z))) for x, z in rows]
    free = fit(rows, labels)
    held = fit(rows, labels, signs=[-1, 0])  # the data pull the first coefficient up: it is held at zero
    assert free.coefficients[0] > 1.0 and held.coefficients[0] == 0.0 and held.coefficients[1] > 0.5
    assert fit(rows, labels, signs=[1, 1]) == free  # constraints the fit satisfies anyway change nothing
    one_sided = fit(rows, labels, signs=[0, -1])
    assert one_sided.coefficients[1] == 0.0 and one_sided.coefficients[0] > 1.0


def test_periods_and_categories() -> None:
    assert parse_period("2027-Q1").start.isoformat() == "2027-01-01" and parse_period("2027-Q1").end.month == 4
    assert parse_period("2027-12").end.isoformat() == "2028-01-01"
    with pytest.raises(ValueError, match="2027-Q1"):
        parse_period("2027-Q5")
    assert [category_of(p) for p in (0.7, 0.69, 0.4, 0.39)] == ["commit", "best_case", "best_case", "pipeline"]


def test_simulated_outcomes_follow_what_the_buyer_shows() -> None:
    """Won deals were answered more than lost ones: behaviour and outcome share the hidden traits."""
    stream = simulate(SimulationSettings(deals=400, days=365, seed=8), default_playbook(), END)
    sent: dict[str, int] = {}
    replied: dict[str, int] = {}
    outcome: dict[str, str] = {}
    for m in stream:
        deal = str(m["deal_id"])
        sent[deal] = sent.get(deal, 0) + (m["type"] == "email.sent")
        replied[deal] = replied.get(deal, 0) + (m["type"] == "email.replied")
        if m["type"] == "deal.close":
            outcome[deal] = str(m["outcome"])

    def reply_rate(kind: str) -> float:
        deals = [d for d, o in outcome.items() if o == kind]
        return sum(replied[d] for d in deals) / sum(sent[d] for d in deals)

    assert reply_rate("won") > reply_rate("lost") + 0.1
