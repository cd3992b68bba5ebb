"""A round's records to produce, gathered into one record batch per topic partition.

Handing aiokafka one message at a time (``send``) costs a coroutine, a pure-Python murmur2 hash
and an accumulator lookup per message; here a record is appended to its partition's batch
builder, the partition of a key is computed once, and :meth:`Outbox.send` hands the producer one
batch per partition (more when one fills up), in the order the records were added, and returns
their pending acknowledgements. Partitions are the producer's default (murmur2 of the key), as
``send`` would choose them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

_MAX_CACHED_KEYS = 500_000


class Outbox:
    """Records waiting to be produced, per (topic, partition), in order."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.partitioner = DefaultPartitioner()
        self.partitions: dict[str, list[int]] = {}
        self.hash_of: dict[bytes, int] = {}
        """Each key's murmur2 hash (masked positive), shared by every topic the key is sent to."""
        self.batches: dict[tuple[str, int], list[Any]] = {}
        self.count = 0
        self.sent: list[tuple[int, asyncio.Future[Any], int]] = []
        """The last :meth:`send`'s batches: (partition, pending metadata of the batch, records)."""

    async def known(self, *topics: str) -> None:
        """Fetch the partitions of ``topics`` (before the first :meth:`add` to them)."""
        for topic in topics:
            if topic not in self.partitions:
                self.partitions[topic] = sorted(await self.producer.partitions_for(topic))

    def partition(self, topic: str, key: bytes | None) -> int:
        """The default partitioner's choice for ``key`` (a random partition for no key)."""
        partitions = self.partitions[topic]
        if key is None:
            return int(self.partitioner(None, partitions, None))
        found = self.hash_of.get(key)
        if found is None:
            if len(self.hash_of) > _MAX_CACHED_KEYS:
                self.hash_of.clear()
            found = self.hash_of[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[found % len(partitions)]  # as DefaultPartitioner chooses

    def add(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Queue one record (to ``partition``, or the key's default partition)."""
        if partition is None:
            partition = self.partition(topic, key)
        builders = self.batches.get((topic, partition))
        if builders is None:
            builders = self.batches[(topic, partition)] = [self.producer.create_batch()]
        if builders[-1].append(timestamp=None, key=key, value=value) is None:
            builders.append(self.producer.create_batch())
            if builders[-1].append(timestamp=None, key=key, value=value) is None:
                raise ValueError(f"a record of {len(value)} bytes does not fit in a batch for {topic}")
        self.count += 1

    async def send(self) -> list[Awaitable[Any]]:
        """Hand every queued batch to the producer; their pending acknowledgements (record batch
        metadata). The outbox is empty afterwards."""
        batches, self.batches, self.count = self.batches, {}, 0
        self.sent = []
        for (topic, partition), builders in batches.items():
            for builder in builders:
                count = builder.record_count()
                future: asyncio.Future[Any] = await self.producer.send_batch(builder, topic, partition=partition)
                self.sent.append((partition, future, count))
        return [future for _, future, _ in self.sent]
