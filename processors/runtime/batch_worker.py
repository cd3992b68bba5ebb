"""The live worker's default runtime: a direct aiokafka batch loop (``DEALFLOW_RUNTIME=batch``).

Each round fetches many records (``getmany``), holds them in the cross-topic merge
(``processors/runtime/merge.py``), handles what the merge releases deal by deal in order
(``processors/runtime/batch_handling.py``), handles the deadlines due on the wall clock every
``DEALFLOW_TICK_SECONDS``, and sends its outputs. The rounds handled since the last checkpoint
make a batch, sealed for a checkpoint (``processors/runtime/checkpoint.py``) at most every
``CHECKPOINT_INTERVAL``: outputs acknowledged, then each touched deal's newest state and the input
offsets in the changelog, acknowledged, then the group commit. A checkpoint runs while the next
rounds are handled (one at a time, in order). The rebalance listener waits for the round and the
checkpoint in progress, so a partition changes hands only once everything handled is durable.

On assignment the worker restores the state of its partitions from the changelog
(``processors/runtime/changelog.py``), seeks each input partition to the offset stored there
(its beginning when none is), and starts processing; the restored deals' next deadlines are put in
the index a slice per round meanwhile (100,000 deals take about 20 s on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from datetime import datetime, timezone
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError

from processors.config import Settings
from processors.core.deadlines import DeadlineIndex
from processors.kafka.security import KafkaSecurity
from processors.kafka.topics import ensure_contract_topics, ensure_topics
from processors.observability import metrics
from processors.playbooks.loader import load_playbook
from processors.runtime.batch_handling import RecordHandler
from processors.runtime.changelog import CHANGELOG_CONFIGS, Changelog, changelog_topic
from processors.runtime.checkpoint import Batch, Checkpoints, Offsets
from processors.runtime.merge import CoPartitionMerge
from processors.runtime.outbox import Outbox
from processors.runtime.state_store import StateStore
from processors.runtime.stays import SharedBenchmarks

log = logging.getLogger("dealflow.worker")

MAX_RECORDS = 5_000
"""Records fetched per round at most."""
MAX_OPEN = 20_000
"""Records a batch takes at most while the previous checkpoint is in flight (then it waits for it)."""
BACKLOG_ROUND = 500
"""A round that handles this many records or more is working off a backlog."""
BACKLOG_BATCH = 10_000
"""Records a batch takes under a backlog before it is sealed (about 2 s of handling): each
checkpoint writes every deal it touched once, so a backlog worked off in larger batches writes
fewer states (a deal's records come in runs). The outputs go out every round all the same."""
FETCH_MAX_WAIT_MS = 10
"""How long the broker holds a fetch of partitions without new records (aiokafka's default: 500).
A record the merge holds waits for such a fetch of the other topic's partition (``at_end``), so
this bounds that wait; an idle worker fetches about 100 times a second."""
CHECKPOINT_INTERVAL = 0.05
"""The least time in seconds between the starts of two checkpoints: a trickle of input would
otherwise take one per round (a changelog write and a group commit every few milliseconds).
Outputs do not wait for checkpoints (they go every round), so this delays only the durability of
states and offsets, by this much at most."""
POLL_TIMEOUT_MS = 100
"""How long a round waits for new records when the merge holds none."""
HELD_POLL_TIMEOUT_MS = 5
"""How long a round waits for new records while the merge holds some: the fetches that let them
go bring no records, so the round must come round again without waiting for records."""
PRODUCER_REQUEST_TIMEOUT_MS = 180_000
"""How long a produced batch may wait for the broker (aiokafka's default: 40 s). A broker restart
takes 40 s or more on a small machine (the JVM starts, the partitions elect leaders); the worker
waits it out, and only a longer outage stops it (crash-only: its successor resumes from the changelog)."""
YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between young collections: handling allocates many short-lived objects next to a
large, long-lived state; the default (700) has the collector walk the survivors over and over."""


class BatchWorker:
    """One worker process: consumer, producer, state store, merge and deadline index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        security = KafkaSecurity.from_settings(settings.kafka_security)
        self.client: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap, **security.client_options()}
        # In the merge's tie order: a command (a deal's creation) before engagement of the same millisecond.
        self.inputs = (settings.topics.commands, settings.topics.engagement)
        self.store = StateStore(settings.state_cache_size)
        self.index = DeadlineIndex()
        self.merge: CoPartitionMerge[Any] = CoPartitionMerge(self.inputs)
        self.lock = asyncio.Lock()
        self.assigned: set[TopicPartition] = set()
        self.next_offset: dict[TopicPartition, int] = {}
        self.received_at: dict[int, int] = {}
        """Per partition number, the poll time (ms) of the fetch that brought its latest records."""
        self.paused: set[tuple[str, int]] = set()
        self.stopping = asyncio.Event()
        self.batch = Batch()
        self.unindexed: list[str] = []
        self.next_tick = 0.0
        self.next_checkpoint = 0.0
        self.shared = SharedBenchmarks(settings.topics.stays, load_playbook(settings.playbook), self.client)
        self.consumer: AIOKafkaConsumer
        self.producer: AIOKafkaProducer
        self.changelog: Changelog
        self.handler: RecordHandler

    async def start(self) -> None:
        settings = self.settings
        self.producer = AIOKafkaProducer(acks="all", enable_idempotence=True, linger_ms=settings.producer_linger_ms,
                                         max_batch_size=256 * 1024, request_timeout_ms=PRODUCER_REQUEST_TIMEOUT_MS,
                                         **self.client)
        await self.producer.start()
        self.changelog = Changelog(changelog_topic(settings.app_id), self.store, self.producer, self.client)
        self.outbox = Outbox(self.producer)
        topics = settings.topics
        await self.outbox.known(topics.events, topics.alerts, topics.deadletter, topics.stays)
        await self.changelog.outbox.known(self.changelog.topic)
        self.handler = RecordHandler(settings, self.store, self.index, self.shared, self.outbox)
        await self.shared.ready()  # every stay recorded before today, before anything is handled
        self.checkpoints = Checkpoints(self.changelog.write, self.commit, self.changelog.written)
        self.consumer = AIOKafkaConsumer(
            group_id=settings.app_id, enable_auto_commit=False, auto_offset_reset="earliest",
            # Small fetches per partition keep the input topics taking turns (see merge.py).
            max_partition_fetch_bytes=settings.fetch_bytes, fetch_max_bytes=16 * 1024 * 1024,
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(settings.session_timeout * 1000 / 3)),
            # An idle topic answers a fetch within this, so a record waiting on it (at_end) is not held long.
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            # Partition p of every input topic goes to the same worker (co-partitioned deals).
            partition_assignment_strategy=(RangePartitionAssignor,), **self.client)
        await self.consumer.start()
        self.consumer.subscribe(list(self.inputs), listener=_Listener(self))

    async def stop(self) -> None:
        for client in (getattr(self, "consumer", None), getattr(self, "producer", None), self.shared):
            if client is not None:
                await client.stop()

    async def run(self) -> None:
        """Fetch, handle and checkpoint rounds until :attr:`stopping` is set (raises on a Kafka failure)."""
        while not self.stopping.is_set():
            self.checkpoints.check()
            timeout = HELD_POLL_TIMEOUT_MS if self.merge.held() else POLL_TIMEOUT_MS
            fetched = await self.consumer.getmany(timeout_ms=timeout, max_records=MAX_RECORDS)
            async with self.lock:
                await self.round(fetched)
        async with self.lock:
            await self.seal()
            await self.checkpoints.drain()

    async def round(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Handle what ``fetched`` and the merge release, and the due deadlines, into the open batch;
        send its outputs; seal it for a checkpoint when none is in flight and the last one started
        ``CHECKPOINT_INTERVAL`` ago (under a backlog once it holds ``BACKLOG_BATCH`` records), or
        when it has grown large."""
        batch = self.batch
        handled = batch.handled
        await self.shared.ready()  # the stays published meanwhile; on a new day, every stay before it
        for tp, records in fetched.items():
            expected = self.next_offset.get(tp)
            if expected is None:  # not assigned (any more)
                continue
            # aiokafka was seen to deliver the first records of a partition twice when the
            # listener's seek met its own initial offset reset: a record before the next offset
            # expected has been taken already.
            records = [record for record in records if record.offset >= expected]
            if not records:
                continue
            for record in records:
                self.merge.add(tp.partition, tp.topic, record.offset, (record.timestamp or 0) / 1000, record)
            self.next_offset[tp] = records[-1].offset + 1
            polled = self.consumer.last_poll_timestamp(tp) or 0
            self.received_at[tp.partition] = max(self.received_at.get(tp.partition, 0), polled)
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels("worker", tp.topic, str(tp.partition)).set(
                    max(0, highwater - records[-1].offset - 1))
        for partition in self.merge.partitions_waiting():
            for record in self.merge.release(partition, lambda topic, p=partition: self.at_end(topic, p)):
                self.handler.record(record, batch)
        self.pace_fetching()
        self.index_some()
        if time.monotonic() >= self.next_tick:
            self.next_tick = time.monotonic() + self.settings.tick_seconds
            self.fire_deadlines()
        self.handler.tally.flush()
        if self.outbox.count:
            batch.outputs += await self.outbox.send()
        backlog = batch.handled - handled >= BACKLOG_ROUND and batch.handled < BACKLOG_BATCH
        due = time.monotonic() >= self.next_checkpoint
        if (self.checkpoints.idle() and due and not backlog) or batch.handled >= MAX_OPEN:
            await self.seal()

    async def seal(self) -> None:
        """Close the open batch with the states it changed and start its checkpoint."""
        batch, self.batch = self.batch, Batch()
        if self.outbox.count:
            batch.outputs += await self.outbox.send()
        if batch.handled or batch.outputs or batch.offsets or self.store.dirty:
            batch.states = self.store.take_dirty()
            for pair, offset in batch.offsets.items():
                self.store.offsets[pair] = offset
            await self.checkpoints.submit(batch)
            self.next_checkpoint = time.monotonic() + CHECKPOINT_INTERVAL

    def fire_deadlines(self) -> None:
        """Handle the deadlines due now (their outputs and states join the round)."""
        started = time.monotonic()
        for due, deal_id in self.index.pop_due(datetime.now(timezone.utc)):
            if deal_id in self.store.partition_of:
                self.handler.tick(deal_id, due)
        metrics.DEADLINE_INDEX.set(len(self.index))
        metrics.DEADLINE_ROUND.observe(time.monotonic() - started)

    def at_end(self, topic: str, partition: int) -> bool:
        """Whether every record of ``topic``'s ``partition`` produced before the held ones has been fetched.

        The partition's high-water mark must come from a fetch answered after the one that
        brought the latest held records of that partition number: one fetch response may read an
        idle partition just before a record produced earlier than the records it returns for
        another partition was appended (a burst of a create command and its engagement).
        """
        tp = TopicPartition(topic, partition)
        highwater = self.consumer.highwater(tp)
        polled = self.consumer.last_poll_timestamp(tp)
        return (highwater is not None and self.next_offset.get(tp, 0) >= highwater
                and polled is not None and polled > self.received_at.get(partition, 0))

    def pace_fetching(self) -> None:
        """Stop fetching topic partitions that run ahead of the others in time (merge.pacing)."""
        to_pause, to_resume = self.merge.pacing(self.paused)
        self.paused.difference_update(to_resume)
        self.paused.update(to_pause)
        resume = [TopicPartition(*pair) for pair in to_resume if TopicPartition(*pair) in self.assigned]
        if resume:
            self.consumer.resume(*resume)
        if to_pause:
            self.consumer.pause(*[TopicPartition(*pair) for pair in to_pause])

    async def commit(self, offsets: Offsets) -> None:
        """Commit ``offsets`` for the group; a refused commit is logged only (the changelog has them)."""
        try:
            await self.consumer.commit({TopicPartition(*pair): offset for pair, offset in offsets.items()})
        except (CommitFailedError, KafkaError) as error:
            log.warning("the group commit was refused (%r); the changelog holds the offsets", error)

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions go: drop what is held for them (their states stay, until the next assignment
        shows whether someone else wrote their changelog meanwhile)."""
        await self.seal()
        await self.checkpoints.drain()
        self.merge.clear()
        self.received_at.clear()
        self.paused.clear()  # the partitions of the next assignment start unpaused
        self.assigned -= revoked
        for tp in revoked:
            self.next_offset.pop(tp, None)

    async def assigned_(self, assigned: set[TopicPartition]) -> None:
        """Partitions come: restore their states as needed, seek to the stored offsets, index deadlines."""
        started = time.monotonic()
        self.assigned = set(assigned)
        partitions = {tp.partition for tp in assigned}
        held = set(self.store.partition_of.values()) | {p for _, p in self.store.offsets}
        ends = await self.changelog.current_ends(partitions) if partitions else {}
        stale = {p for p in held if p not in partitions or ends.get(p) != self.changelog.ends.get(p)}
        for deal_id in self.store.deals_in(stale):
            self.index.schedule(deal_id, None)
        self.store.drop(stale)
        missing = {p for p in partitions if p in stale or p not in held}
        await self.changelog.restore(missing)
        for tp in assigned:
            offset = self.store.offsets.get((tp.topic, tp.partition), 0)
            self.consumer.seek(tp, offset)
            self.next_offset[tp] = offset
            if offset:  # the group may not have the restored offset (a crash between changelog and commit)
                self.batch.offsets.setdefault((tp.topic, tp.partition), offset)
        self.unindexed.extend(self.store.deals_in(missing))
        log.warning("assigned partitions %s: %d deals in state (%d partitions restored from the changelog), "
                    "ready in %.1fs; %d deadlines to index", sorted(partitions), len(self.store), len(missing),
                    time.monotonic() - started, len(self.unindexed))

    def index_some(self, budget: float = 0.02) -> None:
        """Put restored deals' next deadlines in the index for about ``budget`` seconds, so a large
        restore does not hold up processing (a deal handled meanwhile is indexed as it is handled)."""
        if not self.unindexed:
            return
        until = time.monotonic() + budget
        while self.unindexed and time.monotonic() < until:
            for deal_id in self.unindexed[-200:]:
                if deal_id in self.store.partition_of:
                    self.handler.schedule(deal_id)
            del self.unindexed[-200:]
        metrics.DEADLINE_INDEX.set(len(self.index))
        if not self.unindexed:
            log.info("deadline index rebuilt: %d deals with a deadline", len(self.index))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partitions over only between rounds (the worker's lock)."""

    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.worker.lock:
            await self.worker.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.worker.lock:
            await self.worker.assigned_(set(assigned))


async def serve(settings: Settings) -> None:
    """Run one batch worker until SIGTERM or SIGINT (then finish the round and leave the group)."""
    worker = BatchWorker(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    await worker.start()
    gc.freeze()  # what was built at start (modules, clients) is never collected
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    try:
        await worker.run()
    finally:
        await worker.stop()


def run_batch_worker(settings: Settings) -> None:
    """Create the changelog topic if needed and run the batch worker in the foreground."""
    security = KafkaSecurity.from_settings(settings.kafka_security).client_options()
    ensure_topics(settings.kafka_bootstrap, [changelog_topic(settings.app_id)], settings.partitions, security,
                  settings.replication_factor, CHANGELOG_CONFIGS)
    ensure_contract_topics(settings.kafka_bootstrap, settings.topics, settings.partitions, security,
                           settings.replication_factor)
    try:
        asyncio.run(serve(settings))
    except KafkaError as error:  # crash-only: the successor resumes from the changelog
        log.critical("Kafka refused a write or a read; stopping: %r", error)
        raise SystemExit(70) from None
