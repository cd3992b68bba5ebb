"""Prometheus metrics of the worker and the projector (``dealflow_`` prefix, bounded labels).

Never a deal id, event id or free text as a label: stage and type labels are limited to the
playbook's names and the contract's types, anything else is counted as ``other``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)

MESSAGES_CONSUMED = Counter(
    "dealflow_messages_consumed_total", "Inbound messages consumed, by topic and message type.", ["topic", "type"])
DEAD_LETTERS = Counter(
    "dealflow_dead_letters_total", "Inbound messages sent to the dead-letter topic, by reason.", ["reason"])
GATE_DECISIONS = Counter(
    "dealflow_gate_decisions_total", "Stage-change decisions, by from-stage, to-stage and outcome.",
    ["from_stage", "to_stage", "outcome"])
ALERTS = Counter(
    "dealflow_alerts_total", "Alert records published, by type, severity and status (raised, updated or resolved).",
    ["type", "severity", "status"])
INPUT_REREAD = Counter(
    "dealflow_input_rereads_total",
    "Times the worker sought back to re-read input records the consumer had skipped (the input gap guard).",
)
FACTS = Counter("dealflow_facts_total", "Facts appended to the deal event log, by type.", ["type"])
PROCESSING_LATENCY = Histogram(
    "dealflow_processing_latency_seconds", "From a message's event time to its facts and alerts being produced.",
    buckets=LATENCY_BUCKETS)
HANDLING_LATENCY = Histogram(
    "dealflow_handling_latency_seconds",
    "From a message's arrival in Kafka (its record timestamp) to its facts and alerts being produced.",
    buckets=LATENCY_BUCKETS)
PROJECTION_LATENCY = Histogram(
    "dealflow_projection_latency_seconds", "From a fact or alert being produced to its row being committed.",
    buckets=LATENCY_BUCKETS)
CONSUMER_LAG = Gauge(
    "dealflow_consumer_lag_messages", "Messages not yet processed, per consumer, topic and partition.",
    ["consumer", "topic", "partition"])
PROJECTOR_BATCH_SIZE = Histogram(
    "dealflow_projector_batch_size", "Records per projector batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))
PROJECTOR_COMMIT = Histogram(
    "dealflow_projector_commit_duration_seconds", "Time to write and commit one projector batch.",
    buckets=LATENCY_BUCKETS)
OPEN_DEALS = Gauge("dealflow_open_deals", "Open deals per stage (from the projection).", ["stage"])
OPEN_ALERTS = Gauge("dealflow_open_alerts",
                    "Open condition alerts (raised or updated, not resolved) per type (from the projection); "
                    "notifications are never open.", ["type"])
DEADLINE_INDEX = Gauge("dealflow_deadline_index_deals", "Deals with a pending deadline in this worker's index.")
DEADLINE_ROUND = Histogram(
    "dealflow_deadline_round_seconds", "Time of one deadline check round of the worker's timer.",
    buckets=LATENCY_BUCKETS)


def bounded(value: str | None, allowed: frozenset[str] | set[str]) -> str:
    """``value`` if it is one of the known names, else ``other`` (labels must stay bounded)."""
    return value if value in allowed else "other"
