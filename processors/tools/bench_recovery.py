"""The bench's recovery measurement: how long the batch worker takes to restore N deals.

Writes ``N`` open deals' states (the bench's template deal) and stored offsets to a changelog
topic of its own, then restores them as the batch worker does on assignment
(``processors/runtime/changelog.py``) and rebuilds the deadline index from them. A restarted
worker is processing again after the consumer group hands it the partitions (at most
``DEALFLOW_SESSION_TIMEOUT`` after a crash) plus this time.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from processors.config import Settings
from processors.core import next_wake
from processors.core.deadlines import DeadlineIndex
from processors.kafka.security import KafkaSecurity
from processors.kafka.topics import ensure_topics
from processors.playbooks.loader import load_playbook
from processors.runtime.changelog import CHANGELOG_CONFIGS, Changelog, changelog_topic
from processors.runtime.outbox import Outbox
from processors.runtime.state_store import StateStore, offset_key
from processors.tools.bench_kafka import delete_run_topics
from processors.tools.bench_state import template_deal


async def _write(settings: Settings, client: dict[str, object], topic: str, deals: int) -> None:
    producer = AIOKafkaProducer(acks="all", max_batch_size=1024 * 1024, **client)  # type: ignore[arg-type]
    await producer.start()
    try:
        outbox = Outbox(producer)
        await outbox.known(topic)
        raw, _ = template_deal()
        for i in range(deals):
            deal_id = f"rec-{i:07d}"
            outbox.add(topic, deal_id.encode(), raw.replace("TEMPLATE", deal_id).encode())
            if outbox.count >= 20_000:
                await asyncio.gather(*await outbox.send())
        for partition in range(settings.partitions):
            outbox.add(topic, offset_key("input", partition).encode(), b"1", partition)
        await asyncio.gather(*await outbox.send())
    finally:
        await producer.stop()


async def _restore(settings: Settings, client: dict[str, object], topic: str) -> tuple[int, float, float]:
    store = StateStore(settings.state_cache_size)
    changelog = Changelog(topic, store, None, client)  # type: ignore[arg-type]
    started = time.perf_counter()
    await changelog.restore(set(range(settings.partitions)))
    read = time.perf_counter() - started
    playbook = load_playbook(settings.playbook)
    index = DeadlineIndex()
    for deal_id in store.deals_in(set(range(settings.partitions))):
        index.schedule(deal_id, next_wake(store.load(deal_id), playbook))
    return len(store), read, time.perf_counter() - started


def recovery_time(settings: Settings, deals: int) -> str:
    """Restoring ``deals`` deals from a changelog, with the deadline index, in one line."""
    client = {"bootstrap_servers": settings.kafka_bootstrap,
              **KafkaSecurity.from_settings(settings.kafka_security).client_options()}
    topic = changelog_topic(f"{settings.app_id}-recovery")
    ensure_topics(settings.kafka_bootstrap, [topic], settings.partitions, None, None, CHANGELOG_CONFIGS)
    try:
        asyncio.run(_write(settings, client, topic, deals))
        restored, read, total = asyncio.run(_restore(settings, client, topic))
    finally:
        delete_run_topics(settings)
    return (f"{restored:,} deals: processing after {read:.1f} s (the changelog read); deadline index "
            f"complete {total - read:.1f} s later, built between rounds")
