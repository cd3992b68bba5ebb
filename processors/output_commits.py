"""Store each handled record's new state once the broker has its outputs, without waiting in line.

The worker's guarantee (see ``processors/worker.py``) is that a deal's new state, and the input
offset stored after it, are never durable while the facts and alerts of the message that
produced them are not. Waiting for the broker's acknowledgement before handling the next
record would cap the worker at one round trip per message. Instead the worker hands each
handled record here with its outputs' pending acknowledgements and a ``commit`` that writes the
state and acknowledges the input record; commits run strictly in handling order, each once its
own outputs (and so every earlier record's) are acknowledged. Meanwhile the next records are
handled against the newest states, which wait in ``unwritten`` until committed.

A commit is dropped, not run, when the consumer generation changed after its record was
handled (the partition may belong to another worker now): the record was not acknowledged, so
it is read and handled again, with the same output ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from processors.core import DealState


@dataclass
class _Entry:
    outputs: list[Awaitable[Any]]
    commit: Callable[[], None]
    generation: Any
    state: DealState | None


class OrderedCommits:
    """A bounded FIFO of handled records waiting for their outputs' acknowledgements."""

    def __init__(self, current_generation: Callable[[], Any], max_pending: int = 1000) -> None:
        self.current_generation = current_generation
        self.queue: asyncio.Queue[_Entry] = asyncio.Queue(maxsize=max_pending)
        self.unwritten: dict[str, DealState] = {}
        self.unwritten_generation: Any = None
        self.dropped = 0

    def state(self, deal_id: str, generation: Any) -> DealState | None:
        """The newest state of ``deal_id`` handled in ``generation`` but not stored yet."""
        if generation != self.unwritten_generation:
            return None
        return self.unwritten.get(deal_id)

    async def add(self, outputs: list[Awaitable[Any]], commit: Callable[[], None], generation: Any,
                  state: DealState | None) -> None:
        """Queue ``commit`` to run once ``outputs`` are acknowledged (waits while the queue is full)."""
        if state is not None:
            if generation != self.unwritten_generation:
                self.unwritten.clear()
                self.unwritten_generation = generation
            self.unwritten[state.deal_id] = state
        await self.queue.put(_Entry(outputs, commit, generation, state))

    async def run(self) -> None:
        """Commit queued records in order, forever (an output the broker refuses raises)."""
        while True:
            entry = await self.queue.get()
            if entry.outputs:
                await asyncio.gather(*entry.outputs)
            if entry.generation == self.current_generation():
                entry.commit()
            else:
                self.dropped += 1
            if entry.state is not None and self.unwritten.get(entry.state.deal_id) is entry.state:
                del self.unwritten[entry.state.deal_id]
            self.queue.task_done()
