"""One input record or deadline tick in the batch worker: run the core, queue the outputs in the
round's outbox (sent at the round's end, acknowledged before its checkpoint), note the new state
and the deal's next deadline, and count it in the metrics."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from processors.config import Settings
from processors.core import next_wake
from processors.core.benchmarks import BenchmarkLearner
from processors.core.deadlines import DeadlineIndex
from processors.handling.records import Origin, Outcome, handle_record, handle_tick
from processors.handling.serde import to_bytes
from processors.observability import metrics
from processors.observability.instrument import observe_alerts, observe_outcome
from processors.runtime.checkpoint import Batch
from processors.runtime.outbox import Outbox
from processors.runtime.state_store import StateStore
from schemas.inbound import InboundKind

log = logging.getLogger("dealflow.worker")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RecordHandler:
    """Handles records and ticks into a :class:`Batch`, against a :class:`StateStore`."""

    def __init__(self, settings: Settings, store: StateStore, index: DeadlineIndex, learner: BenchmarkLearner,
                 outbox: Outbox) -> None:
        self.topics = settings.topics
        self.store = store
        self.index = index
        self.learner = learner
        self.playbook = learner.effective_playbook()
        self.outbox = outbox

    def record(self, record: Any, batch: Batch) -> None:
        """Handle one consumed input record (an aiokafka ``ConsumerRecord``)."""
        kind: InboundKind = "engagement" if record.topic == self.topics.engagement else "commands"
        origin = Origin(record.topic, record.partition, record.offset)
        now = _utcnow()
        outcome = handle_record(record.value, record.key, kind, origin, self.store.load, self.playbook, now)
        if outcome.dead_letter is not None:
            log.warning("dead-lettered %s/%s@%s: %s", origin.topic, origin.partition, origin.offset,
                        outcome.dead_letter.reason, extra={"topic": origin.topic, "offset": origin.offset})
        self._publish(outcome, record.key)
        observe_outcome(outcome, kind, self.playbook, now)
        if record.timestamp:
            metrics.HANDLING_LATENCY.observe(max(0.0, time.time() - record.timestamp / 1000))
        self._learn(outcome)
        self._keep(outcome, record.partition)
        batch.read(record.topic, record.partition, record.offset)
        batch.handled += 1

    def tick(self, deal_id: str, due: datetime) -> None:
        """Handle the deal's deadline due at ``due`` (the deal belongs to an owned partition)."""
        partition = self.store.partition_of[deal_id]
        tick = json.dumps({"deal_id": deal_id, "due": due.isoformat()}).encode()
        outcome = handle_tick(tick, self.store.load, self.playbook, _utcnow())
        self._publish(outcome, deal_id.encode())
        observe_alerts(outcome.decision.alerts)
        self._keep(outcome, partition)

    def schedule(self, deal_id: str) -> None:
        """Put the deal's next deadline, from its stored state, in the index."""
        self.index.schedule(deal_id, next_wake(self.store.load(deal_id), self.playbook))

    def _publish(self, outcome: Outcome, key: bytes | None) -> None:
        add = self.outbox.add
        topics = self.topics
        if outcome.dead_letter is not None:
            add(topics.deadletter, key, to_bytes(outcome.dead_letter))
        for fact in outcome.decision.facts:
            add(topics.events, fact.deal_id.encode(), to_bytes(fact))
        for alert in outcome.decision.alerts:
            add(topics.alerts, alert.deal_id.encode(), to_bytes(alert))

    def _learn(self, outcome: Outcome) -> None:
        if any([self.learner.observe(fact) for fact in outcome.decision.facts]):
            self.playbook = self.learner.effective_playbook()
            log.info("stage benchmarks in use: %s", self.learner.in_use())

    def _keep(self, outcome: Outcome, partition: int) -> None:
        """Note the outcome's new state for the checkpoint and the deal's next deadline."""
        state = outcome.state
        if state is None or not (state.exists or outcome.decision.facts):
            return
        deal_id = state.deal_id
        self.index.schedule(deal_id, next_wake(state, self.playbook))
        self.store.put(state, partition)
