"""The worker's Kafka consumer: Faust's aiokafka consumer with three changes.

**It commits, for each input partition, the offset the worker stored with its deal states.**
The worker stores, in its state table after a record's deal state, the next offset of the
record's partition; a record is stored only once its outputs are on the broker and every
earlier record of the partition is stored (``processors/runtime/output_commits.py``). That stored
offset is exactly what is safe to commit for the consumer group. Faust instead commits the end
of the first run of consecutive offsets in its list of acknowledged records, and after a seek
it fills the offsets it skipped into that list as if acknowledged. When the input guard
re-reads records (after an outage or a rebalance), the list holds some offsets twice; Faust's
commit then advances one entry per commit round, and after a broker restart the committed
offsets fell tens of thousands of records behind what was handled. This consumer commits the
stored offset instead, through Faust's own commit, which flushes the table's changelog first.

**It seeks on the consumer's own thread.** Faust runs aiokafka on a thread of its own but
calls its ``seek`` from the worker's thread, racing the fetcher there (the worker crashed with
a ``KeyError`` inside aiokafka's ``fetched_records`` when seeks were frequent).

**It can pause fetching a partition without dropping records** (``pause_fetching``): Faust's
own ``pause_partitions`` drops the records of a paused partition still in the batch being
delivered; pausing in aiokafka only stops fetching, and resuming fetches again from the next
record not delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import ensure_aiokafka_TP
from faust.types import TP

StoredOffset = Callable[[TP], "int | None"]
"""The next offset stored for an input partition: None when nothing of it is stored yet."""


def input_consumer(is_input: Callable[[TP], bool], stored: StoredOffset) -> type[AIOKafkaConsumer]:
    """The worker's consumer class: it commits ``stored(tp)`` for the partitions where
    ``is_input(tp)`` (Faust's own acknowledgement bookkeeping elsewhere)."""

    class InputConsumer(AIOKafkaConsumer):  # type: ignore[misc]
        def _new_offset(self, tp: TP) -> int | None:
            if not is_input(tp):
                return super()._new_offset(tp)  # type: ignore[no-any-return]
            # Acknowledgements only free the records here: what is committed is what is stored.
            self._acked[tp].clear()
            self._acked_index[tp].clear()
            self._gap.pop(tp, None)
            return stored(tp)

        async def _seek(self, partition: TP, offset: int) -> None:
            thread = self._thread
            await self._on_consumer_thread(lambda _: thread.seek(partition, offset))

        async def pause_fetching(self, partitions: Iterable[TP]) -> None:
            """Stop fetching ``partitions`` (records not delivered yet are fetched again on resume)."""
            tps = [ensure_aiokafka_TP(tp) for tp in partitions]
            await self._on_consumer_thread(lambda consumer: consumer.pause(*tps))

        async def resume_fetching(self, partitions: Iterable[TP]) -> None:
            """Fetch ``partitions`` again (those still assigned)."""
            tps = [ensure_aiokafka_TP(tp) for tp in partitions]
            await self._on_consumer_thread(
                lambda consumer: consumer.resume(*[tp for tp in tps if tp in consumer.assignment()]))

        async def _on_consumer_thread(self, action: Callable[[Any], Any]) -> None:
            thread = self._thread

            async def run() -> None:
                action(thread._ensure_consumer())

            await thread.call_thread(run)

    return InputConsumer
