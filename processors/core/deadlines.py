"""The deadline index: each deal's next due moment, so a check costs in proportion to due deals."""

from __future__ import annotations

import heapq
from datetime import datetime


class DeadlineIndex:
    """A heap of (due moment, deal id) with lazy invalidation: rescheduling a deal is O(log n).

    Superseded entries stay in the heap until they surface; when they outnumber the live ones
    the heap is rebuilt from the live entries, so its size stays proportional to the deals.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, deal_id: str, due: datetime | None) -> None:
        """Set (or clear, with ``None``) the deal's next due moment."""
        if due is None:
            self._due.pop(deal_id, None)
            return
        if self._due.get(deal_id) == due:
            return
        if self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heapreplace(self._heap, (due, deal_id))  # the earliest entry is superseded: take its place
        else:
            heapq.heappush(self._heap, (due, deal_id))
        self._due[deal_id] = due
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(moment, deal) for deal, moment in self._due.items()]
            heapq.heapify(self._heap)

    def pop_due(self, until: datetime) -> list[tuple[datetime, str]]:
        """Remove and return every deal due at or before ``until``, earliest first."""
        due: list[tuple[datetime, str]] = []
        while self._heap and self._heap[0][0] <= until:
            moment, deal_id = heapq.heappop(self._heap)
            if self._due.get(deal_id) == moment:
                del self._due[deal_id]
                due.append((moment, deal_id))
        return due

    def pop_next(self, until: datetime) -> tuple[datetime, str] | None:
        """Remove and return the earliest deal due at or before ``until``, if any."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            moment, deal_id = heap[0]
            if self._due.get(deal_id) == moment:
                del self._due[deal_id]  # its entry is superseded now: the deal's next schedule takes its place
                return moment, deal_id
            heapq.heappop(heap)
        return None

    def peek(self) -> datetime | None:
        """The earliest live due moment."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def heap_size(self) -> int:
        """Entries in the heap, superseded ones included."""
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
        self._due.clear()
