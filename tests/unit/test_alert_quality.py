"""The alert-quality figures of a backtest's outputs (processors.tools.alert_quality)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from processors.tools.alert_quality import measure

END = datetime(2026, 1, 29, tzinfo=timezone.utc)


def _fact(type_: str, deal: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "deal_id": deal, "occurred_at": f"2026-01-{day:02d}T00:00:00Z", **fields}


def _alert(alert_id: str, type_: str, deal: str, status: str, day: int, **fields: Any) -> dict[str, Any]:
    moment = f"2026-01-{day:02d}T00:00:00Z"
    return {"alert_id": alert_id, "type": type_, "deal_id": deal, "status": status, "raised_at": moment,
            "resolved_at": moment if status == "resolved" else None, "details": {}, **fields}


FACTS = [_fact("deal.created", "a", 1, stage="discovery"), _fact("stage.advanced", "a", 8, to_stage="proposal"),
         _fact("deal.created", "b", 1, stage="discovery"), _fact("deal.lost", "b", 15, to_stage="lost")]


def test_noise_open_alerts_and_the_views_old_count() -> None:
    alerts = [_alert("n1", "momentum.detected", "a", "raised", 2), _alert("n2", "gate.rejected", "b", "raised", 3),
              _alert("s1", "deal.stalled", "a", "raised", 10), _alert("s1", "deal.stalled", "a", "updated", 12),
              _alert("i1", "deal.inactive", "a", "raised", 10), _alert("i1", "deal.inactive", "a", "resolved", 11)]
    report = measure(alerts, FACTS, END).report()
    assert report["open_deal_weeks"] == 6.0  # a: 4 weeks to the end, b: 2 weeks to its loss
    assert report["alerts_per_open_deal_week"] == round(4 / 6, 3)  # distinct alert ids
    assert report["momentum_per_open_deal_week"] == round(1 / 6, 3)
    assert report["median_open_alerts_per_open_late_stage_deal"] == 1  # a's stall; its notification is never open
    assert report["median_raised_at_end_per_open_late_stage_deal"] == 1  # status raised at the end: the momentum
    assert report["most_open_alerts_per_deal_type_rule"] == 1


def test_recall_counts_the_baseline_episodes_of_a_day_or_more_that_nothing_overlaps() -> None:
    baseline = [_alert("x1", "deal.stalled", "a", "raised", 9), _alert("x1", "deal.stalled", "a", "resolved", 12),
                _alert("x2", "deal.inactive", "a", "raised", 20),
                _alert("x3", "deal.ghosting", "a", "raised", 5), _alert("x3", "deal.ghosting", "a", "resolved", 5)]
    measured = [_alert("s1", "deal.stalled", "a", "raised", 11)]
    report = measure(measured, FACTS, END, baseline).report()
    assert report["recall_of_baseline_episodes"] == 0.5  # x3 lasted under a day; x2 has no counterpart
    assert report["baseline_episodes_missed_by_type"] == {"deal.inactive": 1}
