"""Processing order across the engagement and command topics.

Faust's default scheduler takes a fetched batch round-robin by topic, so an engagement
message can overtake an earlier command of the same deal. This scheduler merges a batch by
Kafka record timestamp instead (each partition keeps its own order), so messages fetched
together are processed in the order they were produced, as the backtest processes them in
event-time order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP


class TimestampOrderedScheduling(DefaultSchedulingStrategy):
    """Deliver a fetched batch in record-timestamp order across all partitions."""

    def iterate(self, records: Mapping[TP, list[Any]]) -> Iterator[tuple[TP, Any]]:
        streams = [[(tp, record) for record in batch] for tp, batch in records.items()]
        return heapq.merge(*streams, key=lambda item: item[1].timestamp or 0)
