"""Reading and writing the batch worker's state changelog (see ``processors/runtime/state_store.py``).

Restoring reads the assigned changelog partitions from their beginning to the end offsets taken
when the restore starts. Writing sends the dirty states, then the offset records, without awaiting
them; the caller (the checkpoint) awaits the acknowledgements. The end offset of each changelog
partition this worker last wrote or read is kept, so after a rebalance a partition whose changelog
nobody else has written since is kept in memory instead of read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from processors.runtime.checkpoint import Batch
from processors.runtime.outbox import Outbox
from processors.runtime.state_store import StateStore, offset_key

log = logging.getLogger("dealflow.worker")

CHANGELOG_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}


def changelog_topic(app_id: str) -> str:
    """The name of the deal-state changelog of the app ``app_id``."""
    return f"{app_id}-deal-state"


class Changelog:
    """The changelog topic of one worker's :class:`StateStore`."""

    def __init__(self, topic: str, store: StateStore, producer: AIOKafkaProducer,
                 client: dict[str, Any]) -> None:
        self.topic = topic
        self.store = store
        self.outbox = Outbox(producer)
        self.client = client
        self.ends: dict[int, int] = {}
        """Per changelog partition: the end offset after this worker's last write or read."""

    async def current_ends(self, partitions: set[int]) -> dict[int, int]:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.client)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()

    async def restore(self, partitions: set[int]) -> int:
        """Read ``partitions`` of the changelog into the store, to their current ends; the records read."""
        if not partitions:
            return 0
        started = time.monotonic()
        # "earliest": the reset that assign() starts races seek_to_beginning; with "latest" it
        # could win and the restore would read nothing.
        consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=4 * 1024 * 1024,
                                    fetch_max_bytes=32 * 1024 * 1024, **self.client)
        await consumer.start()
        count = 0
        try:
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            begins = await consumer.beginning_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if ends[tp] > begins[tp]}
            while remaining:
                for tp, records in (await consumer.getmany(*remaining, timeout_ms=500, max_records=20_000)).items():
                    self.store.restored(tp.partition, [(r.key.decode(), r.value) for r in records
                                                       if r.key is not None and r.offset < ends[tp]])
                    count += len(records)
                    if records[-1].offset + 1 >= ends[tp]:
                        remaining.discard(tp)
                for tp in list(remaining):  # the end may be a gap (compacted away)
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            self.ends.update({tp.partition: ends[tp] for tp in tps})
        finally:
            await consumer.stop()
        log.info("restored %d changelog records of partitions %s in %.1fs (ends %s)", count, sorted(partitions),
                 time.monotonic() - started, self.ends)
        return count

    async def write(self, batch: Batch) -> Sequence[Awaitable[Any]]:
        """Send the batch's states, then its offsets, each to its partition; the pending acknowledgements."""
        add = self.outbox.add
        for partition, deal_id, data in batch.states:
            add(self.topic, deal_id.encode(), data, partition)
        for (topic, partition), offset in batch.offsets.items():
            add(self.topic, offset_key(topic, partition).encode(), str(offset).encode(), partition)
        return await self.outbox.send()

    def written(self, _acknowledged: Sequence[Awaitable[Any]]) -> None:
        """Note the changelog ends after the last :meth:`write`, now acknowledged."""
        for partition, future, count in self.outbox.sent:
            end = future.result().offset + count
            self.ends[partition] = max(self.ends.get(partition, 0), end)
