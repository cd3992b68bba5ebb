"""One input record or deadline tick in the batch worker: run the core with the playbook in force
(``processors/runtime/stays.py``), queue the outputs in the round's outbox (sent at the round's
end, acknowledged before its checkpoint; completed learned stays included), note the new state and
the deal's next deadline, and count it in the round's tally of metrics (added to them once per round)."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from processors.config import Settings
from processors.core import next_wake
from processors.core.deadlines import DeadlineIndex
from processors.handling.records import Origin, Outcome, handle_record, handle_tick
from processors.handling.serde import to_bytes
from processors.observability import metrics
from processors.observability.instrument import Tally, observe_alerts, observe_outcome
from processors.runtime.checkpoint import Batch
from processors.runtime.outbox import Outbox
from processors.runtime.state_store import StateStore
from processors.runtime.stays import SharedBenchmarks
from schemas.inbound import InboundKind
from schemas.playbook import Playbook

log = logging.getLogger("dealflow.worker")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RecordHandler:
    """Handles records and ticks into a :class:`Batch`, against a :class:`StateStore`."""

    def __init__(self, settings: Settings, store: StateStore, index: DeadlineIndex, shared: SharedBenchmarks,
                 outbox: Outbox) -> None:
        self.topics = settings.topics
        self.store = store
        self.index = index
        self.shared = shared
        self.outbox = outbox
        self.tally = Tally()
        """The metrics of the records handled since the worker last added them (once per round)."""

    def record(self, record: Any, batch: Batch) -> None:
        """Handle one consumed input record (an aiokafka ``ConsumerRecord``)."""
        kind: InboundKind = "engagement" if record.topic == self.topics.engagement else "commands"
        origin = Origin(record.topic, record.partition, record.offset)
        now = _utcnow()
        playbook = self.shared.playbook_for(now)
        outcome = handle_record(record.value, record.key, kind, origin, self.store.load, playbook, now)
        if outcome.dead_letter is not None:
            log.warning("dead-lettered %s/%s@%s: %s", origin.topic, origin.partition, origin.offset,
                        outcome.dead_letter.reason, extra={"topic": origin.topic, "offset": origin.offset})
        self._publish(outcome, record.key)
        observe_outcome(outcome, kind, playbook, now, self.tally)
        if record.timestamp:
            self.tally.observe(metrics.HANDLING_LATENCY, max(0.0, time.time() - record.timestamp / 1000))
        self._keep(outcome, record.partition, playbook)
        batch.read(record.topic, record.partition, record.offset)
        batch.handled += 1

    def tick(self, deal_id: str, due: datetime) -> None:
        """Handle the deal's deadline due at ``due`` (the deal belongs to an owned partition)."""
        partition = self.store.partition_of[deal_id]
        tick = json.dumps({"deal_id": deal_id, "due": due.isoformat()}).encode()
        now = _utcnow()
        playbook = self.shared.playbook_for(now)
        outcome = handle_tick(tick, self.store.load, playbook, now)
        self._publish(outcome, deal_id.encode())
        observe_alerts(outcome.decision.alerts, self.tally)
        self._keep(outcome, partition, playbook)

    def schedule(self, deal_id: str) -> None:
        """Put the deal's next deadline, from its stored state, in the index."""
        self.index.schedule(deal_id, next_wake(self.store.load(deal_id), self.shared.playbook_for(_utcnow())))

    def _publish(self, outcome: Outcome, key: bytes | None) -> None:
        add = self.outbox.add
        topics = self.topics
        if outcome.dead_letter is not None:
            add(topics.deadletter, key, to_bytes(outcome.dead_letter))
        for fact in outcome.decision.facts:
            add(topics.events, fact.deal_id.encode(), to_bytes(fact))
        for alert in outcome.decision.alerts:
            add(topics.alerts, alert.deal_id.encode(), to_bytes(alert))
        for stay_key, stay in self.shared.stays_of(outcome.decision.facts):
            add(topics.stays, stay_key, stay)

    def _keep(self, outcome: Outcome, partition: int, playbook: Playbook) -> None:
        """Note the outcome's new state for the checkpoint and the deal's next deadline."""
        state = outcome.state
        if state is None or not (state.exists or outcome.decision.facts):
            return
        deal_id = state.deal_id
        self.index.schedule(deal_id, next_wake(state, playbook))
        self.store.put(state, partition)
