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


def _stages(playbook: Playbook) -> set[str]:
    return {*playbook.stage_names, playbook.nurture_stage, "won", "lost", "disqualified", ""}


def observe_outcome(outcome: Outcome, topic_role: str, playbook: Playbook, now: datetime) -> None:
    """Count one handled inbound record: consumed, dead-lettered, facts, gate decisions, alerts, latency."""
    message_type = metrics.bounded(outcome.message_type, MESSAGE_TYPES) if outcome.message_type else "invalid"
    metrics.MESSAGES_CONSUMED.labels(topic_role, message_type).inc()
    if outcome.dead_letter is not None:
        metrics.DEAD_LETTERS.labels(outcome.dead_letter.reason_code).inc()
    stages = _stages(playbook)
    for fact in outcome.decision.facts:
        metrics.FACTS.labels(fact.type).inc()  # type: ignore[attr-defined]
        if isinstance(fact, StageChangeFact):
            metrics.GATE_DECISIONS.labels(metrics.bounded(fact.from_stage, stages),
                                          metrics.bounded(fact.to_stage, stages), "accepted").inc()
        elif isinstance(fact, CommandRejected) and fact.command_type in ("stage.change", "deal.close",
                                                                          "deal.disqualify"):
            current = outcome.state.stage if outcome.state is not None else None
            metrics.GATE_DECISIONS.labels(metrics.bounded(current, stages),
                                          metrics.bounded(str(fact.requested.get("target")), stages),
                                          "refused").inc()
    observe_alerts(outcome.decision.alerts)
    if outcome.occurred_at is not None:
        metrics.PROCESSING_LATENCY.observe(max(0.0, (now - outcome.occurred_at).total_seconds()))


def observe_alerts(alerts: list[Any]) -> None:
    for alert in alerts:
        metrics.ALERTS.labels(metrics.bounded(alert.type, ALERT_TYPES), alert.severity, alert.status).inc()


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
