"""A deterministic processing order across the worker's co-partitioned input topics.

A deal's messages arrive on two topics (engagement and commands, plus the worker's own
deadline ticks), all partitioned by deal. Which topic's records the consumer happens to
fetch first depends on timing, so processing them in arrival order would make the result of a
replay (after a crash, a restart or a rebalance) differ from the first run's. This merge holds
each partition number's records per topic and releases them in record-timestamp order (ties by
topic in the order given, commands before engagement, so a deal's creation comes before engagement
produced in the same millisecond; then by offset): a record is released only when every topic of
that partition number either has a record waiting or has been read to its end. So a backlog is
processed in one order, the same on every run, and a live stream in the order its records were
produced.

Liveness beats order only in two cases: a record held longer than ``max_wait`` seconds (a topic
that never reports its end) and more than ``max_held`` records held for one partition number.
``pacing`` tells the worker which topic partitions to stop fetching while they run ahead, so
that neither happens under a backlog.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass
class _Held(Generic[Item]):
    timestamp: float
    offset: int
    since: float
    item: Item


@dataclass
class CoPartitionMerge(Generic[Item]):
    """Holds records per (partition number, topic) and releases them in timestamp order."""

    topics: tuple[str, ...]
    max_wait: float = 60.0
    max_held: int = 10_000
    clock: Callable[[], float] = time.monotonic
    queues: dict[int, dict[str, deque[_Held[Item]]]] = field(default_factory=dict)
    forced: int = 0  # releases that could not wait for order (see the module docstring)

    def add(self, partition: int, topic: str, offset: int, timestamp: float, item: Item) -> None:
        """Hold ``item``, the record at ``offset`` of ``topic``'s ``partition``."""
        queues = self.queues.setdefault(partition, {t: deque() for t in self.topics})
        queues[topic].append(_Held(timestamp, offset, self.clock(), item))

    def release(self, partition: int, at_end: Callable[[str], bool]) -> list[Item]:
        """The records of ``partition`` that can go now, in order.

        ``at_end(topic)`` tells whether ``topic``'s ``partition`` has been read to its end (so an
        empty queue there cannot be hiding an earlier record).
        """
        queues = self.queues.get(partition)
        if not queues:
            return []
        released: list[Item] = []
        while True:
            heads = [(queue[0].timestamp, index, queue[0].offset, topic)
                     for index, (topic, queue) in enumerate(queues.items()) if queue]
            if not heads:
                break
            if not self._may_go(queues, at_end):
                break
            _, _, _, topic = min(heads)
            released.append(queues[topic].popleft().item)
        return released

    def _may_go(self, queues: dict[str, deque[_Held[Item]]], at_end: Callable[[str], bool]) -> bool:
        if all(queue or at_end(topic) for topic, queue in queues.items()):
            return True
        held = [queue[0].since for queue in queues.values() if queue]
        overfull = sum(len(queue) for queue in queues.values()) > self.max_held
        forced = overfull or (bool(held) and self.clock() - min(held) >= self.max_wait)
        self.forced += forced
        return forced

    def awaited(self, at_end: Callable[[str, int], bool]) -> list[tuple[str, int]]:
        """The (topic, partition) pairs that held records wait on: nothing held there, not read to
        the end."""
        return [(topic, partition) for partition, queues in self.queues.items() if any(queues.values())
                for topic, queue in queues.items() if not queue and not at_end(topic, partition)]

    def pacing(self, paused: set[tuple[str, int]], pause_at: int = 500,
               resume_at: int = 100) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """Which (topic, partition) pairs to stop fetching and which to fetch again.

        A topic whose records cover less time per byte than the others' (engagement against
        commands) falls behind in time when every partition is fetched alike, and the merge then
        holds more and more of the others' records for it. So a pair with ``pause_at`` records
        held is paused until ``resume_at`` or fewer are left. The pair held records wait on has
        none held, so it is never paused.
        """
        held = {(topic, partition): len(queue) for partition, queues in self.queues.items()
                for topic, queue in queues.items() if queue}
        to_resume = {pair for pair in paused if held.get(pair, 0) <= resume_at}
        to_pause = {pair for pair, count in held.items() if count >= pause_at} - paused
        return to_pause, to_resume

    def partitions_waiting(self) -> list[int]:
        """Partition numbers with records held."""
        return [p for p, queues in self.queues.items() if any(queues.values())]

    def held(self) -> int:
        return sum(len(queue) for queues in self.queues.values() for queue in queues.values())

    def clear(self) -> None:
        """Drop everything held (the partitions were reassigned; their records will be read again)."""
        self.queues.clear()
