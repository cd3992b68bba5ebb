"""Learned stage benchmarks: median of recent completed stays, configured until enough exist."""

from __future__ import annotations

from processors.core.benchmarks import BenchmarkLearner
from processors.playbooks.loader import default_playbook
from schemas.facts import StageAdvanced
from tests.builders import T0, Deal, create


def _learning_playbook():  # type: ignore[no-untyped-def]
    playbook = default_playbook()
    stages = [s.model_copy(update={"benchmark": "learned"}) if s.name == "discovery" else s for s in playbook.stages]
    learning = playbook.learning.model_copy(update={"min_stays": 3, "window_stays": 4})
    return playbook.model_copy(update={"stages": stages, "learning": learning})


def _stay(days: float, n: int) -> StageAdvanced:
    return StageAdvanced(event_id=f"f{n}", deal_id=f"d{n}", occurred_at=T0, caused_by=f"m{n}",
                         from_stage="discovery", to_stage="qualification", days_in_from_stage=days, requested_by="r")


def test_configured_until_enough_stays_then_the_median_of_the_most_recent() -> None:
    learner = BenchmarkLearner(_learning_playbook())
    assert learner.in_use()["discovery"] == 7
    learner.observe(_stay(2, 1))
    learner.observe(_stay(4, 2))
    assert learner.in_use()["discovery"] == 7 and "learning: 2/3" in learner.describe()[0][2]
    assert learner.observe(_stay(30, 3)) is True
    assert learner.in_use()["discovery"] == 4
    learner.observe(_stay(30, 4))
    learner.observe(_stay(30, 5))  # the window keeps the 4 most recent: 4, 30, 30, 30
    assert learner.in_use()["discovery"] == 30
    assert learner.in_use()["qualification"] == 14  # configured stages never change


def test_detectors_use_the_benchmark_in_use() -> None:
    learner = BenchmarkLearner(_learning_playbook())
    for n, days in enumerate((1, 1, 1)):
        learner.observe(_stay(days, n))
    deal = Deal(playbook=learner.effective_playbook())
    deal.send(create())
    [warning] = [a for a in deal.tick(1.5) if a.type == "deal.stalled"]
    assert warning.details["benchmark_days"] == 1
