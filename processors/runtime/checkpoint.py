"""The batch worker's checkpoint: the one place that orders a batch's side effects.

A batch's outputs (facts, alerts, dead letters) are already handed to the producer, unawaited,
while the batch is handled. The checkpoint then:

1. waits until the broker has acknowledged every output of the batch;
2. writes each touched deal's newest state to the changelog, then the next input offset of every
   input partition the batch read, after the states and in the same changelog partitions;
3. waits until the broker has acknowledged those writes;
4. commits the input offsets for the consumer group.

So a state that records a message as handled is never durable while that message's outputs are
not, and the group never commits past a state it has not stored. Any failure raises: the worker
stops (crash-only) and its successor resumes from the changelog, replaying the messages whose
states were not stored; their outputs come again with the same ids.

The states a checkpoint writes are serialized when its batch is sealed (``Batch.states``), so the
worker can handle the next batch while the checkpoint waits for the broker (:class:`Checkpoints`):
a later batch's changes never reach an earlier checkpoint, and checkpoints run one after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Offsets = dict[tuple[str, int], int]
"""The next input offset to read, per input (topic, partition)."""


@dataclass
class Batch:
    """What one handled batch left to make durable."""

    outputs: list[Awaitable[Any]] = field(default_factory=list)
    """The producer's pending acknowledgements of the batch's outputs."""
    offsets: Offsets = field(default_factory=dict)
    """The next offset of every input partition the batch read."""
    handled: int = 0
    states: list[tuple[int, str, bytes]] = field(default_factory=list)
    """The touched deals' newest states as changelog records (partition, deal id, JSON), sealed."""

    def read(self, topic: str, partition: int, offset: int) -> None:
        """Note that the batch handled the input record at ``offset``."""
        self.offsets[(topic, partition)] = offset + 1


StoreStates = Callable[["Batch"], Awaitable[Sequence[Awaitable[Any]]]]
"""Writes the batch's states, then its offsets, to the changelog; their pending acks."""
Commit = Callable[[Offsets], Awaitable[None]]


async def checkpoint(batch: Batch, store_states: StoreStates, commit: Commit) -> list[Awaitable[Any]]:
    """Make ``batch`` durable in the order of the module docstring (raises on any failure); the
    acknowledged changelog writes."""
    if batch.outputs:
        await asyncio.gather(*batch.outputs)
    writes = await store_states(batch)
    if writes:
        await asyncio.gather(*writes)
    if batch.offsets:
        await commit(batch.offsets)
    return list(writes)


class Checkpoints:
    """Checkpoints run in order in the background, at most one while the next batch is handled."""

    def __init__(self, store_states: StoreStates, commit: Commit,
                 written: Callable[[list[Awaitable[Any]]], None] = lambda _: None) -> None:
        self.store_states = store_states
        self.commit = commit
        self.written = written
        self.pending: asyncio.Task[None] | None = None

    async def submit(self, batch: Batch) -> None:
        """Start ``batch``'s checkpoint once the one in flight is done (raises if that one failed)."""
        await self.drain()
        self.pending = asyncio.create_task(self._run(batch))

    async def _run(self, batch: Batch) -> None:
        self.written(await checkpoint(batch, self.store_states, self.commit))

    async def drain(self) -> None:
        """Wait for the checkpoint in flight (raises if it failed)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            await pending

    def idle(self) -> bool:
        """Whether no checkpoint is in flight."""
        return self.pending is None or self.pending.done()

    def check(self) -> None:
        """Raise the failure of a finished checkpoint, if any."""
        if self.pending is not None and self.pending.done():
            pending, self.pending = self.pending, None
            pending.result()
