"""The bench's Kafka side: its own topics, producing its input, the raw-client baseline, offsets."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import replace

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from processors.config import Settings, Topics


def bench_settings(base: Settings) -> Settings:
    """``base`` with topics, consumer group and database of this run's own."""
    run = uuid.uuid4().hex[:6]
    topics = Topics(**{name: f"bench{run}.{value}" for name, value in Topics().__dict__.items()})
    head = base.database_url.rpartition("/")[0]
    return replace(base, topics=topics, app_id=f"dealflow-bench-{run}", database_url=f"{head}/dealflow_bench_{run}",
                   metrics_port=0)


def produce_lines(settings: Settings, lines: list[str]) -> None:
    """Produce ``lines`` to the input topics, keyed by deal."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                             batch_size=256 * 1024)
    engagement = {'"type": "email', '"type": "call', '"type": "meeting', '"type": "content',
                  '"type": "stakeholder', '"type": "signal'}
    for line in lines:
        topic = settings.topics.engagement if any(marker in line for marker in engagement) else settings.topics.commands
        deal_id = json.loads(line)["deal_id"]
        producer.send(topic, key=deal_id.encode(), value=line.encode())
    producer.flush()
    producer.close()


async def _raw_consume(bootstrap: str, topics: list[str], expected: int) -> float:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTP

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [AioTP(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - first metadata fetch
            partitions = [AioTP(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.perf_counter()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(batch) for batch in batches.values())
        return expected / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def baseline_rate(settings: Settings, expected: int) -> float:
    """Messages/s of a bare aiokafka consumer reading the pre-produced input topics."""
    return asyncio.run(_raw_consume(settings.kafka_bootstrap, [settings.topics.engagement, settings.topics.commands],
                                    expected))


def end_offsets(consumer: KafkaConsumer, topics: list[str]) -> int:
    """The sum of the end offsets of ``topics``' partitions."""
    partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())]
    return sum(consumer.end_offsets(partitions).values()) if partitions else 0


def first_timestamp(consumer: KafkaConsumer, topic: str) -> float | None:
    """The earliest record timestamp in ``topic`` (epoch seconds), None when it is empty."""
    partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    first: float | None = None
    deadline = time.monotonic() + 5
    pending = set(partitions)
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200, max_records=500).items():
            if tp in pending and records:
                pending.discard(tp)
                first = records[0].timestamp if first is None else min(first, records[0].timestamp)
    return first / 1000 if first is not None else None


def committed_offsets(admin: KafkaAdminClient, group: str, topics: list[str]) -> int:
    """The sum of ``group``'s committed offsets in ``topics`` (0 before its first commit)."""
    try:
        result = admin.list_group_offsets({group: None})
    except KafkaError:  # the group has no coordinator yet: nothing committed
        return 0
    offsets = result.get(group, result) if isinstance(result, dict) else {}
    return sum(getattr(meta, "offset", meta) for tp, meta in offsets.items()
               if getattr(tp, "topic", None) in topics and getattr(meta, "offset", meta) > 0)


def delete_run_topics(settings: Settings) -> None:
    """Delete the topics of this run (its contract topics and its changelogs), so that runs do not
    pile up on the broker; a failure to delete is only reported."""
    prefixes = (settings.topics.events.partition(".")[0] + ".", settings.app_id + "-")
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            mine = [topic for topic in admin.list_topics() if topic.startswith(prefixes)]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
    except KafkaError as exc:
        print(f"  (the run's topics {prefixes[0]}* were not deleted: {exc})", file=sys.stderr)
