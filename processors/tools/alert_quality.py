"""How much a manager would trust the alerts of a backtest: noise, open alerts, and recall.

    dealflow simulate --deals 300 --days 120 --seed 5 --end 2026-12-01T00:00:00+00:00 --out sim.jsonl
    dealflow backtest sim.jsonl --as-of 2026-12-01T00:00:00+00:00 --out alerts.jsonl --events-out facts.jsonl
    python -m processors.tools.alert_quality alerts.jsonl facts.jsonl --as-of 2026-12-01T00:00:00+00:00 \\
        [--baseline old-alerts.jsonl] [--json]

It reads the outputs only, so it measures an older version's outputs the same way (alerts
without ``kind`` count as notifications when their type is one, as conditions otherwise).
``--baseline``: the recall of the baseline's condition episodes that lasted at least a day,
that is, the share of them during which the measured alerts had an alert of the same deal and
type open (or raised) as well.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from processors.playbooks.loader import load_playbook
from schemas.alerts import NOTIFICATION_TYPES

TERMINAL = frozenset({"deal.won", "deal.lost", "deal.disqualified"})
MOVES = frozenset({"deal.created", "stage.advanced", "stage.regressed", "deal.nurtured"})


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _lines(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass
class Episode:
    """One condition alert from its raise to its resolution (or the end)."""

    deal_id: str
    type: str
    start: datetime
    end: datetime | None = None


@dataclass
class Quality:
    open_deal_weeks: float = 0.0
    alerts: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    open_at_end_per_late_deal: list[int] = field(default_factory=list)
    raised_at_end_per_late_deal: list[int] = field(default_factory=list)
    """Alerts whose last record is ``raised``, of any kind: what the views counted as open before issue 16."""
    most_open_per_condition: int = 0
    recall: float | None = None
    missed: Counter[str] = field(default_factory=Counter)

    def report(self) -> dict[str, Any]:
        weeks = self.open_deal_weeks or 1.0
        late = self.open_at_end_per_late_deal
        return {
            "open_deal_weeks": round(self.open_deal_weeks, 1),
            "alerts_per_open_deal_week": round(self.alerts / weeks, 3),
            "momentum_per_open_deal_week": round(self.by_type["momentum.detected"] / weeks, 3),
            "alerts_by_type": dict(sorted(self.by_type.items())),
            "open_late_stage_deals": len(late),
            "median_open_alerts_per_open_late_stage_deal": median(late) if late else 0,
            "max_open_alerts_per_open_late_stage_deal": max(late) if late else 0,
            "median_raised_at_end_per_open_late_stage_deal": (median(self.raised_at_end_per_late_deal)
                                                              if self.raised_at_end_per_late_deal else 0),
            "most_open_alerts_per_deal_type_rule": self.most_open_per_condition,
            "recall_of_baseline_episodes": None if self.recall is None else round(self.recall, 4),
            "baseline_episodes_missed_by_type": dict(sorted(self.missed.items())),
        }


def _is_notification(alert: dict[str, Any]) -> bool:
    return alert.get("kind", "notification" if alert["type"] in NOTIFICATION_TYPES else "condition") == "notification"


def _deals(facts: list[dict[str, Any]], end: datetime) -> tuple[float, dict[str, str]]:
    """Open deal-weeks, and the stage of every deal still open at ``end``."""
    opened: dict[str, datetime] = {}
    closed: dict[str, datetime] = {}
    stage: dict[str, str] = {}
    for fact in facts:
        kind, deal = fact["type"], fact["deal_id"]
        if kind == "deal.created":
            opened[deal] = _time(fact["occurred_at"])
        if kind in MOVES:
            stage[deal] = fact.get("to_stage") or fact.get("stage") or ""
        if kind in TERMINAL:
            closed[deal] = _time(fact["occurred_at"])
    weeks = sum(((closed.get(deal, end) - start) / timedelta(days=7)) for deal, start in opened.items())
    return weeks, {deal: stage[deal] for deal in opened if deal not in closed and deal in stage}


def _episodes(alerts: list[dict[str, Any]]) -> list[Episode]:
    episodes: dict[str, Episode] = {}
    for alert in alerts:
        if _is_notification(alert):
            continue
        episode = episodes.setdefault(alert["alert_id"], Episode(alert["deal_id"], alert["type"],
                                                                 _time(alert["raised_at"])))
        if alert["status"] == "resolved":
            episode.end = _time(alert["resolved_at"])
    return list(episodes.values())


def measure(alerts: list[dict[str, Any]], facts: list[dict[str, Any]], end: datetime,
            baseline: list[dict[str, Any]] | None = None) -> Quality:
    """The quality figures of one backtest's outputs (see the module docstring)."""
    playbook = load_playbook(None)
    late = {stage.name for stage in playbook.stages if stage.late}
    quality = Quality()
    quality.open_deal_weeks, open_stage = _deals(facts, end)
    seen: set[str] = set()
    for alert in alerts:
        if alert["alert_id"] not in seen:
            seen.add(alert["alert_id"])
            quality.alerts += 1
            quality.by_type[alert["type"]] += 1
    episodes = _episodes(alerts)
    open_now = Counter(e.deal_id for e in episodes if e.end is None)
    quality.open_at_end_per_late_deal = [open_now[deal] for deal, stage in open_stage.items() if stage in late]
    last = {alert["alert_id"]: alert for alert in alerts}
    raised_now = Counter(alert["deal_id"] for alert in last.values() if alert["status"] == "raised")
    quality.raised_at_end_per_late_deal = [raised_now[deal] for deal, stage in open_stage.items() if stage in late]
    quality.most_open_per_condition = _most_open_at_once(alerts)
    if baseline is not None:
        quality.recall, quality.missed = _recall(_episodes(baseline), episodes, end)
    return quality


def _most_open_at_once(alerts: list[dict[str, Any]]) -> int:
    """The most condition alerts open at one moment for one deal, type and rule."""
    open_ids: dict[tuple[str, str, Any], set[str]] = defaultdict(set)
    most = 0
    for alert in alerts:
        if _is_notification(alert):
            continue
        key = (alert["deal_id"], alert["type"], alert["details"].get("rule"))
        if alert["status"] == "resolved":
            open_ids[key].discard(alert["alert_id"])
        else:
            open_ids[key].add(alert["alert_id"])
            most = max(most, len(open_ids[key]))
    return most


def _recall(baseline: list[Episode], measured: list[Episode], end: datetime) -> tuple[float, Counter[str]]:
    by_deal: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for episode in measured:
        by_deal[(episode.deal_id, episode.type)].append(episode)
    lasting = [e for e in baseline if (e.end or end) - e.start >= timedelta(days=1)]
    missed: Counter[str] = Counter()
    for episode in lasting:
        overlaps = any(other.start <= (episode.end or end) and (other.end or end) >= episode.start
                       for other in by_deal[(episode.deal_id, episode.type)])
        if not overlaps:
            missed[episode.type] += 1
    return (1 - sum(missed.values()) / len(lasting)) if lasting else 1.0, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors.tools.alert_quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("alerts", help="alerts JSONL of a backtest (--out)")
    parser.add_argument("facts", help="facts JSONL of the same backtest (--events-out)")
    parser.add_argument("--as-of", required=True, help="the backtest's --as-of (an ISO timestamp with offset)")
    parser.add_argument("--baseline", help="alerts JSONL of another version on the same input, for recall")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    quality = measure(_lines(args.alerts), _lines(args.facts), _time(args.as_of),
                      _lines(args.baseline) if args.baseline else None)
    report = quality.report()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        for name, value in report.items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
