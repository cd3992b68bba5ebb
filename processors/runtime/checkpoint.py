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

    def read(self, topic: str, partition: int, offset: int) -> None:
        """Note that the batch handled the input record at ``offset``."""
        self.offsets[(topic, partition)] = offset + 1


StoreStates = Callable[[Offsets], Awaitable[Sequence[Awaitable[Any]]]]
"""Writes the touched deals' states, then ``offsets``, to the changelog; their pending acks."""
Commit = Callable[[Offsets], Awaitable[None]]


async def checkpoint(batch: Batch, store_states: StoreStates, commit: Commit) -> list[Awaitable[Any]]:
    """Make ``batch`` durable in the order of the module docstring (raises on any failure); the
    acknowledged changelog writes."""
    if batch.outputs:
        await asyncio.gather(*batch.outputs)
    writes = await store_states(batch.offsets)
    if writes:
        await asyncio.gather(*writes)
    if batch.offsets:
        await commit(batch.offsets)
    return list(writes)
