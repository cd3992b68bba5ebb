"""Counting what the shells do into the Prometheus metrics (no business rule here)."""

from __future__ import annotations

import time
from bisect import bisect_left
from datetime import datetime
from typing import Any

from processors.handling.records import Outcome
from processors.observability import metrics
from schemas.facts import CommandRejected, StageChangeFact
from schemas.inbound import COMMAND_TYPES, ENGAGEMENT_TYPES
from schemas.playbook import Playbook

ALERT_TYPES = frozenset({
    "gate.rejected", "deal.late_stage_entered", "stakeholders.review_requested", "deal.stalled", "deal.inactive",
    "deal.ghosting", "deal.single_threaded", "deal.economic_buyer_silent", "next_step.overdue",
    "close_date.passed", "fields.missing", "velocity.dropped", "momentum.detected",
})
MESSAGE_TYPES = ENGAGEMENT_TYPES | COMMAND_TYPES


_STAGES: dict[int, tuple[Playbook, frozenset[str]]] = {}


def _stages(playbook: Playbook) -> frozenset[str]:
    """The stage labels ``playbook`` allows, worked out once per playbook object."""
    known = _STAGES.get(id(playbook))
    if known is None or known[0] is not playbook:
        if len(_STAGES) > 64:  # a playbook per day in force: keep the latest few
            _STAGES.clear()
        known = _STAGES[id(playbook)] = (playbook, frozenset(
            {*playbook.stage_names, playbook.nurture_stage, "won", "lost", "disqualified", ""}))
    return known[1]


_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _child(key: tuple[Any, ...]) -> Any:
    """``metric.labels(*labels)`` for ``key`` ``(metric, *labels)``, looked up once per label set
    (``labels`` validates and converts its arguments on every call; labels here are bounded)."""
    child = _CHILDREN.get(key)
    if child is None:
        metric, *labels = key
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def observe_all(histogram: Any, values: list[float]) -> None:
    """``histogram.observe(value)`` for each of ``values`` (an unlabelled histogram, no exemplars),
    with one increment per bucket and one of the sum instead of two locked increments per value."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:  # not the client's layout this was written for: one at a time
            histogram.observe(value)
        return
    counts: dict[int, int] = {}
    for value in values:
        index = bisect_left(bounds, value)  # the first bucket whose bound is >= value (the last is +Inf)
        counts[index] = counts.get(index, 0) + 1
    total.inc(sum(values))
    for index, count in counts.items():
        buckets[index].inc(count)


class Tally:
    """Counts and latencies to add to the metrics, gathered over many records and added at once
    (:meth:`flush`): each increment of a metric takes a lock, several per record otherwise."""

    def __init__(self) -> None:
        self.counts: dict[tuple[Any, ...], int] = {}
        self.latencies: dict[Any, list[float]] = {}

    def count(self, metric: Any, *labels: str) -> None:
        key = (metric, *labels)
        self.counts[key] = self.counts.get(key, 0) + 1

    def observe(self, histogram: Any, value: float) -> None:
        values = self.latencies.get(histogram)
        if values is None:
            values = self.latencies[histogram] = []
        values.append(value)

    def flush(self) -> None:
        """Add what was gathered to the metrics and start over."""
        counts, latencies = self.counts, self.latencies
        self.counts, self.latencies = {}, {}
        for key, count in counts.items():
            _child(key).inc(count)
        for histogram, values in latencies.items():
            observe_all(histogram, values)


class _Direct(Tally):
    """A :class:`Tally` that adds each count and latency to the metrics at once."""

    def count(self, metric: Any, *labels: str) -> None:
        _child((metric, *labels)).inc()

    def observe(self, histogram: Any, value: float) -> None:
        histogram.observe(value)


DIRECT: Tally = _Direct()
"""Counts straight into the metrics (for callers that do not flush a tally of their own)."""


def observe_outcome(outcome: Outcome, topic_role: str, playbook: Playbook, now: datetime,
                    tally: Tally = DIRECT) -> None:
    """Count one handled inbound record: consumed, dead-lettered, facts, gate decisions, alerts, latency."""
    count = tally.count
    message_type = metrics.bounded(outcome.message_type, MESSAGE_TYPES) if outcome.message_type else "invalid"
    count(metrics.MESSAGES_CONSUMED, topic_role, message_type)
    if outcome.dead_letter is not None:
        count(metrics.DEAD_LETTERS, outcome.dead_letter.reason_code)
    for fact in outcome.decision.facts:
        count(metrics.FACTS, fact.type)  # type: ignore[attr-defined]
        if isinstance(fact, StageChangeFact):
            stages = _stages(playbook)
            count(metrics.GATE_DECISIONS, metrics.bounded(fact.from_stage, stages),
                  metrics.bounded(fact.to_stage, stages), "accepted")
        elif isinstance(fact, CommandRejected) and fact.command_type in ("stage.change", "deal.close",
                                                                          "deal.disqualify"):
            stages = _stages(playbook)
            current = outcome.state.stage if outcome.state is not None else None
            count(metrics.GATE_DECISIONS, metrics.bounded(current, stages),
                  metrics.bounded(str(fact.requested.get("target")), stages), "refused")
    observe_alerts(outcome.decision.alerts, tally)
    if outcome.occurred_at is not None:
        tally.observe(metrics.PROCESSING_LATENCY, max(0.0, (now - outcome.occurred_at).total_seconds()))


def observe_alerts(alerts: list[Any], tally: Tally = DIRECT) -> None:
    for alert in alerts:
        tally.count(metrics.ALERTS, metrics.bounded(alert.type, ALERT_TYPES), alert.severity, alert.status)


class ProjectorObserver:
    """Hooks the projector calls after each batch; keeps lag and pipeline gauges fresh."""

    def __init__(self, gauge_interval: float = 15.0) -> None:
        self.gauge_interval = gauge_interval
        self._last_gauges = 0.0

    def batch(self, records: list[Any], seconds: float) -> None:
        metrics.PROJECTOR_BATCH_SIZE.observe(len(records))
        metrics.PROJECTOR_COMMIT.observe(seconds)
        now_ms = time.time() * 1000
        for record in records:
            if record.timestamp:
                metrics.PROJECTION_LATENCY.observe(max(0.0, (now_ms - record.timestamp) / 1000))

    def lag(self, by_partition: dict[tuple[str, int], int]) -> None:
        for (topic, partition), lag in by_partition.items():
            metrics.CONSUMER_LAG.labels("projector", topic, str(partition)).set(lag)

    def due(self) -> bool:
        """Whether the pipeline gauges should be refreshed now."""
        if time.monotonic() - self._last_gauges < self.gauge_interval:
            return False
        self._last_gauges = time.monotonic()
        return True

    def pipeline(self, open_deals: dict[str, int], open_alerts: dict[str, int]) -> None:
        metrics.OPEN_DEALS.clear()
        metrics.OPEN_ALERTS.clear()
        for stage, count in open_deals.items():
            metrics.OPEN_DEALS.labels(stage).set(count)
        for alert_type, count in open_alerts.items():
            metrics.OPEN_ALERTS.labels(metrics.bounded(alert_type, ALERT_TYPES)).set(count)
