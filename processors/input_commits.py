"""Commit, for each input partition, the offset the worker stored with its deal states.

The worker stores, in its state table after a record's deal state, the next offset of the
record's partition; a record is stored only once its outputs are on the broker and every
earlier record of the partition is stored (``processors/output_commits.py``). That stored
offset is exactly what is safe to commit for the consumer group.

Faust instead commits the end of the first run of consecutive offsets in its list of
acknowledged records, and after a seek it fills the offsets it skipped into that list as if
acknowledged. When the input guard re-reads records (after an outage or a rebalance), the list
holds some offsets twice; Faust's commit then advances one entry per commit round, and after a
broker restart the committed offsets fell tens of thousands of records behind what was handled.
The consumer below commits the stored offset instead, through Faust's own commit, which
flushes the table's changelog before it commits.
"""

from __future__ import annotations

from collections.abc import Callable

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

StoredOffset = Callable[[TP], "int | None"]
"""The next offset stored for an input partition: None when nothing of it is stored yet."""


def stored_offsets_consumer(is_input: Callable[[TP], bool], stored: StoredOffset) -> type[AIOKafkaConsumer]:
    """A Faust consumer class that commits ``stored(tp)`` for the partitions where ``is_input(tp)``
    (Faust's own acknowledgement bookkeeping elsewhere)."""

    class StoredOffsetsConsumer(AIOKafkaConsumer):  # type: ignore[misc]
        def _new_offset(self, tp: TP) -> int | None:
            if not is_input(tp):
                return super()._new_offset(tp)  # type: ignore[no-any-return]
            # Acknowledgements only free the records here: what is committed is what is stored.
            self._acked[tp].clear()
            self._acked_index[tp].clear()
            self._gap.pop(tp, None)
            return stored(tp)

    return StoredOffsetsConsumer
