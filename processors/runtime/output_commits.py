"""Store handled records' new states once the broker has their outputs, without waiting in line.

The worker's guarantee (see ``processors/runtime/worker.py``) is that a deal's new state, and the input
offset stored after it, are never durable while the facts and alerts of the message that
produced them are not. Waiting for the broker's acknowledgement before handling the next
record would cap the worker at one round trip per message. Instead the worker hands each
handled record here with its outputs' pending acknowledgements; records are stored strictly
in handling order, each once its own outputs (and so every earlier record's) are acknowledged.
Meanwhile the next records are handled against the newest states, which wait in ``unwritten``
until stored.

Records whose outputs are all acknowledged are stored together, in one call of ``store``:
the worker then writes each deal's newest state once and each input partition's offset once,
after the states (see :func:`coalesce`), instead of two table writes per record.

A record is dropped, not stored, when the consumer generation changed after it was handled
(the partition may belong to another worker now): it was not acknowledged, so it is read and
handled again, with the same output ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from processors.core import DealState

Source = TypeVar("Source")
"""What the worker needs to store a record (the Faust event); opaque here."""


@dataclass
class Handled(Generic[Source]):
    """One handled record waiting to be stored."""

    source: Source
    partition: Hashable
    """The input partition the record came from (its offset is stored per partition)."""
    generation: Any
    state: DealState | None
    outputs: list[asyncio.Future[Any]] = field(default_factory=list)


@dataclass
class Coalesced(Generic[Source]):
    """A batch's table writes: each deal's newest state, then each partition's last record."""

    states: list[tuple[DealState, Source]]
    offsets: list[Source]


def coalesce(batch: Sequence[Handled[Source]]) -> Coalesced[Source]:
    """The writes that store ``batch`` (in handling order): the newest state of every deal with
    the record that produced it, then the last record of every input partition.

    Writing every state before any offset keeps the rule that an offset is never durable ahead
    of a state it covers; intermediate states of a deal are superseded within the batch.
    """
    states: dict[str, tuple[DealState, Source]] = {}
    offsets: dict[Hashable, Source] = {}
    for handled in batch:
        if handled.state is not None:
            states[handled.state.deal_id] = (handled.state, handled.source)
        offsets[handled.partition] = handled.source
    return Coalesced(list(states.values()), list(offsets.values()))


class OrderedCommits(Generic[Source]):
    """A bounded FIFO of handled records waiting for their outputs' acknowledgements."""

    def __init__(self, current_generation: Callable[[], Any], store: Callable[[Sequence[Handled[Source]]], None],
                 max_pending: int = 1000, max_batch: int = 500) -> None:
        self.current_generation = current_generation
        self.store = store
        self.max_batch = max_batch
        self.queue: asyncio.Queue[Handled[Source]] = asyncio.Queue(maxsize=max_pending)
        self._next: Handled[Source] | None = None
        self.unwritten: dict[str, DealState] = {}
        self.unwritten_generation: Any = None
        self.dropped = 0
        self.batches = 0

    def state(self, deal_id: str, generation: Any) -> DealState | None:
        """The newest state of ``deal_id`` handled in ``generation`` but not stored yet."""
        if generation != self.unwritten_generation:
            return None
        return self.unwritten.get(deal_id)

    async def add(self, handled: Handled[Source], outputs: Sequence[Awaitable[Any]] = ()) -> None:
        """Queue ``handled`` to be stored once ``outputs`` are acknowledged (waits while the queue is full)."""
        handled.outputs = [asyncio.ensure_future(output) for output in outputs]
        if handled.state is not None:
            if handled.generation != self.unwritten_generation:
                self.unwritten.clear()
                self.unwritten_generation = handled.generation
            self.unwritten[handled.state.deal_id] = handled.state
        await self.queue.put(handled)

    async def _take(self) -> Handled[Source]:
        if self._next is not None:
            handled, self._next = self._next, None
            return handled
        return await self.queue.get()

    def _take_ready(self) -> Handled[Source] | None:
        """The next queued record if its outputs are already acknowledged (or failed)."""
        if self._next is None:
            if self.queue.empty():
                return None
            self._next = self.queue.get_nowait()
        if not all(output.done() for output in self._next.outputs):
            return None
        handled, self._next = self._next, None
        return handled

    async def run(self) -> None:
        """Store queued records in order, forever (an output the broker refuses raises)."""
        while True:
            first = await self._take()
            batch = [first]
            await asyncio.gather(*first.outputs)
            while len(batch) < self.max_batch and (ready := self._take_ready()) is not None:
                batch.append(ready)
                await asyncio.gather(*ready.outputs)  # done already: raises a refused output
            generation = self.current_generation()
            current = [handled for handled in batch if handled.generation == generation]
            self.dropped += len(batch) - len(current)
            if current:
                self.store(current)
                self.batches += 1
            for handled in batch:
                state = handled.state
                if state is not None and self.unwritten.get(state.deal_id) is state:
                    del self.unwritten[state.deal_id]
                self.queue.task_done()
