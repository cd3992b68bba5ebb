"""The batch worker's deal states: in memory for the partitions it owns, durable in a changelog topic.

The changelog (``<app_id>-deal-state``, compacted, as many partitions as the inputs) holds each
deal's newest state as JSON, keyed by deal id, in the partition of the deal's input records, and
after the states of each checkpoint the next input offset of every input partition the checkpoint
covered (keyed :func:`offset_key`). The states come before the offsets in the same partition, so a
restored offset never runs ahead of the states it covers.

In memory: the JSON of every owned deal (compact, as the changelog has it), a bounded cache of
parsed states, and the states changed since the last checkpoint (``dirty``), which are what the
next checkpoint writes. All state handling goes through :meth:`StateStore.load` and
:meth:`StateStore.put`; a state object handed out may be changed by the core, so nothing here
relies on it staying as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from processors.core import DealState
from processors.handling.serde import state_from_json, state_to_bytes

OFFSET_PREFIX = "\x00input-offset:"


def offset_key(topic: str, partition: int) -> str:
    """The changelog key under which the next input offset of ``topic``'s ``partition`` is stored."""
    return f"{OFFSET_PREFIX}{topic}:{partition}"


def parse_offset_key(key: str) -> tuple[str, int] | None:
    """The (topic, partition) of an offset key; None for a deal's key."""
    if not key.startswith(OFFSET_PREFIX):
        return None
    topic, _, partition = key[len(OFFSET_PREFIX):].rpartition(":")
    return topic, int(partition)


class StateStore:
    """Deal states of the owned partitions, the input offsets they reflect, and what changed since
    the last checkpoint."""

    def __init__(self, cache_size: int = 10_000) -> None:
        self.cache_size = cache_size
        self.raw: dict[str, bytes] = {}
        self.partition_of: dict[str, int] = {}
        self.cache: OrderedDict[str, DealState] = OrderedDict()
        self.dirty: dict[str, DealState] = {}
        self.offsets: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self.raw)

    def load(self, deal_id: str) -> DealState:
        """The deal's newest state (a fresh one for an unknown deal)."""
        state = self.dirty.get(deal_id)
        if state is not None:
            return state
        state = self.cache.get(deal_id)
        if state is not None:
            self.cache.move_to_end(deal_id)
            return state
        state = state_from_json(deal_id, self.raw.get(deal_id))
        self._cache(state)
        return state

    def put(self, state: DealState, partition: int) -> None:
        """Record ``state`` as the deal's newest (written at the next checkpoint)."""
        self.dirty[state.deal_id] = state
        self.partition_of[state.deal_id] = partition

    def _cache(self, state: DealState) -> None:
        self.cache[state.deal_id] = state
        self.cache.move_to_end(state.deal_id)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def take_dirty(self) -> list[tuple[int, str, bytes]]:
        """The changed states as changelog records ``(partition, deal id, JSON)``; they count as
        written from now on (the worker stops if the changelog refuses them)."""
        records = []
        for deal_id, state in self.dirty.items():
            data = state_to_bytes(state)
            self.raw[deal_id] = data
            self._cache(state)
            records.append((self.partition_of[deal_id], deal_id, data))
        self.dirty.clear()
        return records

    def restored(self, partition: int, records: Iterable[tuple[str, bytes | None]]) -> None:
        """Take in changelog ``records`` (key, value) of ``partition``, oldest first."""
        for key, value in records:
            pair = parse_offset_key(key)
            if pair is not None:
                if value:
                    self.offsets[pair] = int(value)
            elif value:
                self.raw[key] = value
                self.partition_of[key] = partition
                self.cache.pop(key, None)
            else:  # a tombstone
                self.raw.pop(key, None)

    def deals_in(self, partitions: set[int]) -> list[str]:
        return [deal for deal, partition in self.partition_of.items() if partition in partitions]

    def drop(self, partitions: set[int]) -> None:
        """Forget the deals and offsets of ``partitions`` (no longer owned)."""
        for deal_id in self.deals_in(partitions):
            self.raw.pop(deal_id, None)
            self.cache.pop(deal_id, None)
            self.dirty.pop(deal_id, None)
            del self.partition_of[deal_id]
        for pair in [pair for pair in self.offsets if pair[1] in partitions]:
            del self.offsets[pair]
