"""Counting what the shells do into the Prometheus metrics (no business rule here)."""

from __future__ import annotations

import time
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


def _count(metric: Any, *labels: str) -> None:
    """``metric.labels(*labels).inc()``, with the labelled child looked up once per label set
    (``labels`` validates and converts its arguments on every call; labels here are bounded)."""
    key = (metric, *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    child.inc()


def observe_outcome(outcome: Outcome, topic_role: str, playbook: Playbook, now: datetime) -> None:
    """Count one handled inbound record: consumed, dead-lettered, facts, gate decisions, alerts, latency."""
    message_type = metrics.bounded(outcome.message_type, MESSAGE_TYPES) if outcome.message_type else "invalid"
    _count(metrics.MESSAGES_CONSUMED, topic_role, message_type)
    if outcome.dead_letter is not None:
        _count(metrics.DEAD_LETTERS, outcome.dead_letter.reason_code)
    for fact in outcome.decision.facts:
        _count(metrics.FACTS, fact.type)  # type: ignore[attr-defined]
        if isinstance(fact, StageChangeFact):
            stages = _stages(playbook)
            _count(metrics.GATE_DECISIONS, metrics.bounded(fact.from_stage, stages),
                   metrics.bounded(fact.to_stage, stages), "accepted")
        elif isinstance(fact, CommandRejected) and fact.command_type in ("stage.change", "deal.close",
                                                                          "deal.disqualify"):
            stages = _stages(playbook)
            current = outcome.state.stage if outcome.state is not None else None
            _count(metrics.GATE_DECISIONS, metrics.bounded(current, stages),
                   metrics.bounded(str(fact.requested.get("target")), stages), "refused")
    observe_alerts(outcome.decision.alerts)
    if outcome.occurred_at is not None:
        metrics.PROCESSING_LATENCY.observe(max(0.0, (now - outcome.occurred_at).total_seconds()))


def observe_alerts(alerts: list[Any]) -> None:
    for alert in alerts:
        _count(metrics.ALERTS, metrics.bounded(alert.type, ALERT_TYPES), alert.severity, alert.status)


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
