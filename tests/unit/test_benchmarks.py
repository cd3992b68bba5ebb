"""Learned stage benchmarks: the benchmark in force on a UTC day is the median of the most recent
stays recorded before that day began, configured until enough exist; the same in the backtest."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from processors.core.benchmarks import DailyBenchmarks, Stay, completed_stay
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import Backtest
from schemas.alerts import Alert
from schemas.facts import StageAdvanced
from schemas.playbook import Playbook
from tests.builders import DISCOVERY, T0, Deal, at, change, create, evidence, msg, next_step

DAY1 = T0.date()  # 2026-01-05


def _learning_playbook() -> Playbook:
    playbook = default_playbook()
    stages = [s.model_copy(update={"benchmark": "learned"}) if s.name == "discovery" else s for s in playbook.stages]
    learning = playbook.learning.model_copy(update={"min_stays": 3, "window_stays": 4})
    return playbook.model_copy(update={"stages": stages, "learning": learning})


def _stay(days: float, n: int, recorded: datetime = T0, stage: str = "discovery") -> Stay:
    return Stay(recorded, f"f{n}", stage, days)


def _on(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def test_configured_until_enough_stays_then_the_median_of_the_most_recent_before_the_day() -> None:
    benchmarks = DailyBenchmarks(_learning_playbook())
    next_day = DAY1 + timedelta(days=1)
    for n, days in enumerate((2, 4), start=1):
        benchmarks.add(_stay(days, n))
    assert benchmarks.in_force(next_day)["discovery"] == 7
    assert "learning: 2/3" in benchmarks.describe(next_day)[0][2]
    benchmarks.add(_stay(30, 3, T0 + timedelta(hours=14)))  # 23:00 UTC: still on DAY1
    assert benchmarks.in_force(DAY1)["discovery"] == 7  # stays of the day itself do not count yet
    assert benchmarks.in_force(next_day)["discovery"] == 4
    assert benchmarks.describe(next_day)[0][2] == "learned from 3 stays"
    for n in (4, 5):
        benchmarks.add(_stay(30, n, T0 + timedelta(hours=1)))
    # the window keeps the 4 most recently recorded: 4 (09:00), 30 (10:00), 30 (10:00), 30 (23:00)
    assert benchmarks.in_force(next_day)["discovery"] == 30
    assert benchmarks.in_force(next_day)["qualification"] == 14  # configured stages never change
    assert benchmarks.playbook_for(next_day).stage("discovery").benchmark_days == 30  # type: ignore[union-attr]


def test_the_order_of_arrival_does_not_matter_and_a_stay_counts_once() -> None:
    stays = [_stay(days, n, T0 + timedelta(minutes=n % 3)) for n, days in enumerate((1, 9, 2, 8, 3, 7))]
    forwards, backwards = DailyBenchmarks(_learning_playbook()), DailyBenchmarks(_learning_playbook())
    for stay in stays:
        forwards.add(stay)
        forwards.add(stay)  # the same record again (a replay) changes nothing
    for stay in reversed(stays):
        assert backwards.add(stay) is True
    assert forwards.add(stays[0]) is False
    day = DAY1 + timedelta(days=1)
    assert forwards.in_force(day) == backwards.in_force(day)
    # (recorded_at, event_id): f3 f0 | f4 f1 | f5 f2 -> the last four: 8, 3, 7, 2 -> median 5
    assert forwards.in_force(day)["discovery"] == 5


def test_a_stay_published_again_replaces_its_first_record() -> None:
    benchmarks = DailyBenchmarks(_learning_playbook())
    for n in range(3):
        benchmarks.add(_stay(1, n))
    day = DAY1 + timedelta(days=1)
    assert benchmarks.playbook_for(day).stage("discovery").benchmark_days == 1  # type: ignore[union-attr]
    # f0 published again after a crash, just after midnight: it now counts from the day after
    benchmarks.add(_stay(1, 0, _on(day) + timedelta(seconds=1)))
    assert len(benchmarks.by_stage["discovery"]) == 3
    assert benchmarks.playbook_for(day).stage("discovery").benchmark_days == 7  # type: ignore[union-attr]
    assert benchmarks.in_force(day + timedelta(days=1))["discovery"] == 1


def test_unchanged_benchmarks_keep_the_playbook_object() -> None:
    playbook = _learning_playbook()
    benchmarks = DailyBenchmarks(playbook)
    assert benchmarks.playbook_for(DAY1) is playbook  # nothing learned: the playbook itself
    for n in range(3):
        benchmarks.add(_stay(2, n))
    later = [benchmarks.playbook_for(DAY1 + timedelta(days=d)) for d in (1, 2, 3)]
    assert later[0] is not playbook and later[0] is later[1] is later[2]
    default = default_playbook()
    assert DailyBenchmarks(default).playbook_for(DAY1) is default


def test_only_stays_in_learned_stages_are_recorded() -> None:
    playbook = _learning_playbook()
    left = StageAdvanced(event_id="f1", deal_id="d1", occurred_at=T0, caused_by="m1", from_stage="discovery",
                         to_stage="qualification", days_in_from_stage=2.5, requested_by="r")
    stay = completed_stay(left, playbook)
    assert stay is not None and (stay.event_id, stay.stage, stay.days_in_stage) == ("f1", "discovery", 2.5)
    assert completed_stay(left.model_copy(update={"from_stage": "qualification"}), playbook) is None
    assert completed_stay(left, default_playbook()) is None
    assert DailyBenchmarks(playbook).add(_stay(1, 1, stage="qualification")) is False


def test_detectors_use_the_benchmark_in_force() -> None:
    benchmarks = DailyBenchmarks(_learning_playbook())
    for n in range(3):
        benchmarks.add(_stay(1, n))
    deal = Deal(playbook=benchmarks.playbook_for(DAY1 + timedelta(days=1)))
    deal.send(create())
    [warning] = [a for a in deal.tick(1.5) if a.type == "deal.stalled"]
    assert warning.details["benchmark_days"] == 1


def _stalled(outputs: list[Any], deal_id: str) -> list[Alert]:
    return [o for o in outputs if isinstance(o, Alert) and o.type == "deal.stalled" and o.deal_id == deal_id]


def test_the_backtest_learns_from_the_stays_that_ended_before_the_day() -> None:
    """Three deals leave discovery after one day on 2026-01-06 at 09:00; a deal in discovery since
    2026-01-05 09:00 is judged by the configured 7 days for the rest of 2026-01-06 and by the learned
    1 day from 2026-01-07 on."""
    backtest = Backtest(playbook=_learning_playbook())
    messages = [create(0, deal_id="x")]
    for deal in ("a", "b", "c"):
        messages += [create(0, deal_id=deal), next_step(0, deal_id=deal),
                     *(evidence(c, 0, deal_id=deal) for c in DISCOVERY), change("qualification", 1, deal_id=deal)]
    messages.append(msg("email.sent", 1.2, deal_id="x", contact_id="c1"))  # 2026-01-06 13:48
    outputs = [o for m in sorted(messages, key=lambda m: m.occurred_at) for o in backtest.feed(m)]
    outputs += backtest.advance_clock(at(1.6))  # 2026-01-06 23:24: the stall under 1 day would have come
    assert _stalled(outputs, "x") == []
    outputs += backtest.feed(msg("email.sent", 2.1, deal_id="x", contact_id="c1"))  # 2026-01-07 11:24
    stalled = _stalled(outputs, "x")
    # first evaluated after both thresholds: one alert, critical, stalled since the warning's moment
    assert [(a.severity, a.details["benchmark_days"], a.raised_at) for a in stalled] == [("critical", 1, at(1.5))]
    assert backtest.benchmarks is not None
    assert backtest.benchmarks.describe(at(2).date())[0] == ("discovery", 1, "learned from 3 stays")
