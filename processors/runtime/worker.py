"""The live worker: a Faust app that runs the core per deal, with state in a Faust table.

Delivery: at-least-once with deterministic ids, effectively once per message. A message's
outputs (facts, alerts, dead letter) are acknowledged by the broker before the deal's new
state is written to the table, with the record's next input offset after it; the group commits
that stored offset (``processors/runtime/input_consumer.py``), after Faust flushes the table's changelog.
So after a crash either the state records the message (and its outputs are on
the topics) or it does not (and the replayed message yields the same outputs, with the same
ids, again). A message already in the deal's state yields nothing. The worker does not wait
for those acknowledgements before handling the next record: an ordered commit queue stores each
record's state once its outputs are in (``processors/runtime/output_commits.py``), in batches that write
a deal's newest state and a partition's offset once.

Time: a deadline index (a heap of each deal's next due moment) is checked by a timer every
``DEALFLOW_TICK_SECONDS``; each due deal gets a tick on the worker's internal deadline topic,
keyed by deal, so deadlines are handled by the same agent, in order with the deal's messages.
The index is rebuilt from the table after every rebalance (and so after a restart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP

from processors.config import Settings
from processors.core import DealState, next_wake
from processors.core.deadlines import DeadlineIndex
from processors.handling.records import Origin, Outcome, handle_record, handle_tick
from processors.handling.serde import state_from_json, state_to_json, to_bytes
from processors.kafka.security import KafkaSecurity
from processors.kafka.topics import ensure_contract_topics, ensure_topics
from processors.observability import metrics
from processors.observability.instrument import observe_alerts, observe_outcome
from processors.observability.logs import logging_config
from processors.playbooks.loader import load_playbook
from processors.runtime.input_consumer import input_consumer
from processors.runtime.input_guard import GapGuard, KafkaOffsetsProbe
from processors.runtime.merge import CoPartitionMerge
from processors.runtime.output_commits import Handled, OrderedCommits, coalesce
from processors.runtime.scheduling import TimestampOrderedScheduling
from processors.runtime.stays import SharedBenchmarks
from schemas.inbound import InboundKind

log = logging.getLogger("dealflow.worker")

RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


OFFSET_KEY_PREFIX = "\x00input-offset:"


def input_offset_key(topic: str, partition: int) -> str:
    """The state-table key under which the worker stores the next input offset to handle."""
    return f"{OFFSET_KEY_PREFIX}{topic}:{partition}"


def _brokers(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


@contextmanager
def event_context(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event, so table writes go to its partition's changelog."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class StateCache:
    """Recently used deal states, so a hot deal's JSON is not parsed on every message.

    The table stays the source of truth; the cache is dropped whenever the partition
    assignment changes (a new consumer generation).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.generation: Any = None
        self.states: OrderedDict[str, DealState] = OrderedDict()

    def get(self, deal_id: str, generation: Any) -> DealState | None:
        if generation != self.generation:
            self.states.clear()
            self.generation = generation
            return None
        state = self.states.get(deal_id)
        if state is not None:
            self.states.move_to_end(deal_id)
        return state

    def put(self, state: DealState, generation: Any) -> None:
        if generation != self.generation:
            self.states.clear()
            self.generation = generation
        self.states[state.deal_id] = state
        self.states.move_to_end(state.deal_id)
        while len(self.states) > self.size:
            self.states.popitem(last=False)


class ServiceWorker(faust.Worker):
    """Faust's worker without its terminal spinner.

    At log levels from ``warn`` up, Faust keeps a spinner that sets the root logger to DEBUG, so
    every debug message of Faust, aiokafka and kafka-python is built and then dropped (several
    per record: most of a quiet worker's time).
    """

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


def create_app(settings: Settings, loglevel: str = "info") -> faust.App:
    """Build the Faust app with its topics, the deal-state table, the agent and the deadline timer."""
    topics = settings.topics
    datadir = settings.state_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    security = KafkaSecurity.from_settings(settings.kafka_security)
    shared = SharedBenchmarks(topics.stays, load_playbook(settings.playbook),
                              {"bootstrap_servers": settings.kafka_bootstrap, **security.client_options()})
    app = faust.App(
        settings.app_id,
        broker=_brokers(settings.kafka_bootstrap),
        store="memory://",
        topic_partitions=settings.partitions,
        web_enabled=False,
        producer_acks=-1,
        broker_commit_interval=settings.commit_interval,
        # How long the group waits for a worker that vanished (crashed, killed) before its
        # partitions move: a restarted worker resumes after at most this long.
        broker_session_timeout=settings.session_timeout,
        # Outputs wait this long to share one produce request: fewer requests cost less per message.
        producer_linger=settings.producer_linger_ms / 1000,
        producer_max_batch_size=256 * 1024,
        # Small fetches per partition keep the input partitions taking turns: with large ones a
        # backlog arrives in huge batches and one topic can go without records for a minute while
        # the merge holds the others' records for it (processors/runtime/merge.py). A larger record still
        # comes through (the broker returns it whole).
        consumer_max_fetch_size=settings.fetch_bytes,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,  # held records are not waited for on a rebalance (see processors/runtime/merge.py)
        datadir=str(datadir),
        ConsumerScheduler=TimestampOrderedScheduling,
        Worker=ServiceWorker,
        logging_config=logging_config(loglevel, settings.log_format),
        broker_credentials=security.faust_credentials(),
    )
    inbound = app.topic(topics.engagement, topics.commands, settings.deadline_topic,
                        partitions=settings.partitions, **RAW)
    deadline_ticks = app.topic(settings.deadline_topic, partitions=settings.partitions, **RAW)
    for name in (topics.events, topics.alerts, topics.deadletter, topics.stays):
        app.topic(name, **RAW)  # declared, so Faust knows (and can create) them
    table = app.Table("deal_state", default=None, partitions=settings.partitions, key_type=str, value_type=str)
    index = DeadlineIndex()
    built_for: dict[str, Any] = {"generation": None}

    cache = StateCache(settings.state_cache_size)

    def store(batch: Sequence[Handled[Any]]) -> None:
        """Write a batch of handled records to the table: each deal's newest state, then each input
        partition's next offset (after the states, in the same changelog partition), then ack them."""
        writes = coalesce(batch)
        for state, event in writes.states:
            with event_context(event):  # table writes go to the record's partition
                table[state.deal_id] = state_to_json(state)
        for event in writes.offsets:
            message = event.message
            with event_context(event):
                table[input_offset_key(message.topic, message.partition)] = str(message.offset + 1)
        for handled in batch:
            handled.source.ack()

    commits: OrderedCommits[Any] = OrderedCommits(lambda: app.consumer_generation_id, store)

    def load_state(deal_id: str) -> DealState:
        generation = app.consumer_generation_id
        newest = commits.state(deal_id, generation)
        if newest is not None:
            return newest
        cached = cache.get(deal_id, generation)
        return cached if cached is not None else state_from_json(deal_id, table.get(deal_id))

    async def publish(outcome: Outcome, key: bytes | None) -> list[Any]:
        """Send the outcome's outputs; their pending acknowledgements."""
        send = app.producer.send
        pending = []
        if outcome.dead_letter is not None:
            pending.append(await send(topics.deadletter, key, to_bytes(outcome.dead_letter), None, None, None))
        for fact in outcome.decision.facts:
            pending.append(await send(topics.events, fact.deal_id.encode(), to_bytes(fact), None, None, None))
        for alert in outcome.decision.alerts:
            pending.append(await send(topics.alerts, alert.deal_id.encode(), to_bytes(alert), None, None, None))
        for stay_key, stay in shared.stays_of(outcome.decision.facts):  # acknowledged before the offset, as facts
            pending.append(await send(topics.stays, stay_key, stay, None, None, None))
        return pending

    @app.on_before_shutdown.connect
    async def close_stays(sender: Any, **_: Any) -> None:
        await shared.stop()

    @app.task
    async def commit_handled() -> None:
        # Every output is on the broker before the deal's new state is written: a state that
        # records a message as seen is never durable while that message's effects are not.
        try:
            await commits.run()
        except Exception as error:  # an output the broker refused: stop, so nothing later is committed
            log.critical("an output was not acknowledged by the broker; stopping: %r", error)
            await app.crash(error)

    def stored_offset(partition: tuple[str, int]) -> int | None:
        raw = table.get(input_offset_key(*partition))
        return int(raw) if raw is not None else None

    def stored_next(partition: tuple[str, int]) -> int:
        # Nothing stored: nothing of this partition was handled, so everything from its start is
        # due (the group's committed offset may be ahead of what was handled, never a guide here).
        return stored_offset(partition) or 0

    inbound_topics = {topics.engagement, topics.commands, settings.deadline_topic}
    # The group commits what the table stores, not Faust's acks (processors/runtime/input_consumer.py).
    app.transport.Consumer = input_consumer(lambda tp: tp.topic in inbound_topics,
                                            lambda tp: stored_offset((tp.topic, tp.partition)))

    guard = GapGuard(KafkaOffsetsProbe(settings.kafka_bootstrap, security.client_options()), stored_next)

    merge: CoPartitionMerge[Any] = CoPartitionMerge((topics.commands, topics.engagement, settings.deadline_topic))
    handling = asyncio.Lock()

    def at_end(topic: str, partition: int) -> bool:
        """Whether every record of ``topic``'s ``partition`` available now has reached the agent."""
        highwater = app.consumer.highwater(TP(topic, partition))
        if highwater is None:
            return False
        track = guard.tracks.get((topic, partition))
        next_offset = track.expected if track is not None else stored_next((topic, partition))
        return (next_offset or 0) >= highwater

    paused: set[tuple[str, int]] = set()

    async def pace_fetching() -> None:
        """Stop fetching topic partitions that run ahead of the others in time (merge.pacing)."""
        to_pause, to_resume = merge.pacing(paused)
        if to_resume:
            paused.difference_update(to_resume)
            await app.consumer.resume_fetching([TP(*pair) for pair in to_resume])
        if to_pause:
            paused.update(to_pause)
            await app.consumer.pause_fetching([TP(*pair) for pair in to_pause])

    async def release(partition: int) -> None:
        """Handle the held records of ``partition`` that may go now (see processors/runtime/merge.py)."""
        async with handling:
            forced = merge.forced
            ready_now = merge.release(partition, lambda topic: at_end(topic, partition))
            await pace_fetching()
            if merge.forced > forced:
                log.warning("partition %d: released held input without waiting for every topic's end "
                            "(held %d records); order across topics is best effort here", partition, merge.held())
            for ready in ready_now:
                await handle(ready)

    async def follow_assignment() -> None:
        """On a new consumer generation the guard starts over and held records are dropped
        (the runtime delivers them again from the committed offsets)."""
        if guard.start_generation(app.consumer_generation_id):
            merge.clear()
            if paused:
                await app.consumer.resume_fetching([TP(*pair) for pair in paused])
                paused.clear()

    @app.agent(inbound, name="deals")
    async def process_messages(stream: Any) -> None:
        # Acks are manual and only free a record once it is handled (or skipped); the group
        # commits the offsets stored in the table with the deal states (input_consumer.py).
        async for event in stream.noack().events():
            try:
                await admit(event)
            finally:
                guard.finished()

    async def admit(event: Any) -> None:
        """Pass one delivered record through the gap guard into the merge, and handle what it frees."""
        message = event.message
        await follow_assignment()
        verdict = await guard.admit((message.topic, message.partition), message.offset, app.consumer_generation_id)
        if verdict.seek_to is not None:
            metrics.INPUT_REREAD.inc()
            await app.consumer.seek(message.tp, verdict.seek_to)
        if not verdict.process:
            event.ack()  # frees the record; the committed offset is the stored one (input_consumer.py)
            return
        merge.add(message.partition, message.topic, message.offset, message.timestamp or 0.0, event)
        await release(message.partition)

    @app.timer(interval=0.5)
    async def release_held() -> None:
        if app.in_recovery or app.rebalancing:
            return
        async with handling:
            await follow_assignment()
        for (topic, partition), offset in guard.overdue():
            log.warning("input %s[%d]: re-read from %d not delivered yet; seeking again", topic, partition, offset)
            await app.consumer.seek(TP(topic, partition), offset)
        assigned = sorted((tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in inbound_topics)
        for (topic, partition), offset in await guard.stalled_tails(assigned, merge.awaited(at_end)):
            metrics.INPUT_REREAD.inc()
            await app.consumer.seek(TP(topic, partition), offset)
        for partition in merge.partitions_waiting():
            await release(partition)

    async def handle(event: Any) -> None:
        """Run the core on one input record or tick, publish its outputs, and queue storing the
        new state (and acknowledging the record) for when the broker has the outputs."""
        message = event.message
        await shared.ready()  # the stays published meanwhile; on a new day, every stay before it
        now = _utcnow()
        playbook = shared.playbook_for(now)
        if message.topic == settings.deadline_topic:
            outcome = handle_tick(event.value, load_state, playbook, now)
        else:
            kind: InboundKind = "engagement" if message.topic == topics.engagement else "commands"
            origin = Origin(message.topic, message.partition, message.offset)
            outcome = handle_record(event.value, event.key, kind, origin, load_state, playbook, now)
            if outcome.dead_letter is not None:
                log.warning("dead-lettered %s/%s@%s: %s", origin.topic, origin.partition, origin.offset,
                            outcome.dead_letter.reason, extra={"topic": origin.topic, "offset": origin.offset})
        outputs = await publish(outcome, event.key)
        if message.topic == settings.deadline_topic:
            observe_alerts(outcome.decision.alerts)
        else:
            observe_outcome(outcome, kind, playbook, _utcnow())
            if message.timestamp:
                metrics.HANDLING_LATENCY.observe(max(0.0, time.time() - message.timestamp))
        highwater = app.consumer.highwater(message.tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels("worker", message.topic, str(message.partition)).set(
                max(0, highwater - message.offset - 1))
        generation = app.consumer_generation_id
        state = outcome.state if (outcome.state is not None and outcome.state.exists or outcome.decision.facts) \
            else None
        if state is not None:
            cache.put(state, generation)
            index.schedule(state.deal_id, next_wake(state, playbook))

        await commits.add(Handled(event, message.tp, generation, state), outputs)

    @app.timer(interval=settings.tick_seconds)
    async def fire_deadlines() -> None:
        if app.in_recovery or app.rebalancing:
            return
        started = time.monotonic()
        playbook = shared.playbook_for(_utcnow())
        generation = app.consumer_generation_id
        if built_for["generation"] != generation:
            index.clear()
            for deal_id, raw in list(table.items()):
                if deal_id.startswith(OFFSET_KEY_PREFIX):
                    continue
                index.schedule(deal_id, next_wake(state_from_json(deal_id, raw), playbook))
            built_for["generation"] = generation
            log.info("deadline index rebuilt: %d deals with a deadline", len(index))
        for due, deal_id in index.pop_due(_utcnow()):
            tick = {"deal_id": deal_id, "due": due.isoformat()}
            await deadline_ticks.send(key=deal_id.encode(), value=json.dumps(tick).encode())
        metrics.DEADLINE_INDEX.set(len(index))
        metrics.DEADLINE_ROUND.observe(time.monotonic() - started)

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the Faust worker in the foreground until interrupted."""
    security, replicas = KafkaSecurity.from_settings(settings.kafka_security), settings.replication_factor
    options = security.client_options()
    ensure_topics(settings.kafka_bootstrap, [settings.deadline_topic], settings.partitions, options, replicas)
    ensure_contract_topics(settings.kafka_bootstrap, settings.topics, settings.partitions, options, replicas)
    app = create_app(settings, loglevel)
    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", loglevel]
    app.main()
