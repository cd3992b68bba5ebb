"""The learned stage benchmarks every worker shares: the stays topic, read whole.

Each worker publishes one record per completed stay in a learned stage (``stays_of``: keyed by the
stage change's event id, produced with the batch's other outputs, so acknowledged before the input
offsets are committed) and reads the whole compacted stays topic with a consumer of its own (all
partitions, no group, from the beginning), keeping up with it between batches. A record counts as
recorded at its Kafka timestamp (the producer's create time, the wall clock when it was published).

The benchmarks in force on a UTC day come from the stays recorded before that day began
(:class:`processors.core.benchmarks.DailyBenchmarks`), so they do not depend on which worker saw
which stay or when. So that every worker has all of those: before handling anything on a new day
(and at start) a worker reads the topic to its end as it is ``SETTLE`` after midnight, and it
handles nothing in the ``MARGIN`` before midnight (what it publishes just before midnight is
acknowledged by then). A stay that still arrives late (an outage around midnight) is counted when
it arrives: the day's benchmarks are then computed again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from processors.core.benchmarks import DailyBenchmarks, Stay, completed_stay, day_start
from processors.handling.serde import to_bytes
from schemas.facts import Fact
from schemas.playbook import Playbook
from schemas.stays import StayCompleted

log = logging.getLogger("dealflow.worker")

MARGIN = timedelta(seconds=3)
"""Before midnight UTC, how long a worker handles nothing (its last stays of the day get acknowledged)."""
SETTLE = timedelta(seconds=3)
"""After midnight UTC, how long a worker waits before reading the stays topic to its end."""
FOLLOW_SECONDS = 1.0
"""How often, at most, a worker reads the stays published since it last looked."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SharedBenchmarks:
    """One worker's reader of the stays topic and the playbook in force on the wall clock's day."""

    def __init__(self, topic: str, playbook: Playbook, client: dict[str, Any]) -> None:
        self.topic = topic
        self.daily = DailyBenchmarks(playbook)
        self.client = client
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: list[TopicPartition] = []
        self.ready_until: datetime | None = None
        """The moment until which what was read covers the day in force (``MARGIN`` before its end)."""
        self.next_follow = 0.0
        self.lock = asyncio.Lock()
        self.read = 0
        self._day = (datetime.max.replace(tzinfo=timezone.utc), datetime.min.replace(tzinfo=timezone.utc))
        """The day (start, end) of ``_playbook``; empty: none yet."""
        self._playbook = playbook

    @property
    def playbook(self) -> Playbook:
        """The playbook as configured (which stages learn their benchmark)."""
        return self.daily.playbook

    def stays_of(self, facts: Iterable[Fact]) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of the stays-topic record of every fact that completed a learned stay."""
        for fact in facts:
            stay = completed_stay(fact, self.daily.playbook)
            if stay is not None:
                yield stay.event_id.encode(), to_bytes(stay)

    def playbook_for(self, now: datetime) -> Playbook:
        """The playbook in force at ``now`` (its UTC day's)."""
        if not self._day[0] <= now < self._day[1]:
            day = now.astimezone(timezone.utc).date()
            self._playbook = self.daily.playbook_for(day)
            self._day = (day_start(day), day_start(day) + timedelta(days=1))
        return self._playbook

    async def start(self) -> None:
        """Assign every partition of the stays topic, from the beginning."""
        consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", group_id=None,
                                    **self.client)
        await consumer.start()
        self.consumer = consumer
        # A consumer without a subscription has no metadata for the topic: ask for it (what
        # aiokafka's own producer does in ``partitions_for``).
        await consumer._client.add_topic(self.topic)
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise RuntimeError(f"the stays topic {self.topic!r} does not exist (run `dealflow topics`)")
        self.partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(self.partitions)
        await consumer.seek_to_beginning(*self.partitions)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def ready(self) -> None:
        """Make the day's benchmarks known before anything is handled on it; otherwise read the stays
        published since the last look (at most every ``FOLLOW_SECONDS``)."""
        async with self.lock:
            if self.consumer is None:
                await self.start()
            now = _utcnow()
            if self.ready_until is not None and now < self.ready_until:
                if time.monotonic() >= self.next_follow:
                    await self._follow()
                return
            midnight = day_start((now + MARGIN).date())  # the start of the day about to be in force
            if now < midnight + SETTLE:  # close to it: hold on until every stay before it is on the topic
                await asyncio.sleep((midnight + SETTLE - now).total_seconds())
            await self.catch_up()
            now = _utcnow()
            self.ready_until = day_start(now.date()) + timedelta(days=1) - MARGIN
            log.info("stage benchmarks in force on %s (from %d stays read): %s", now.date(), self.read,
                     self.daily.in_force(now.date()))

    async def catch_up(self) -> None:
        """Read the stays topic up to its end as it is now."""
        assert self.consumer is not None
        ends = await self.consumer.end_offsets(self.partitions)
        while [tp for tp, end in ends.items() if await self.consumer.position(tp) < end]:
            await self._follow(timeout_ms=500)

    async def _follow(self, timeout_ms: int = 0) -> None:
        assert self.consumer is not None
        self.next_follow = time.monotonic() + FOLLOW_SECONDS
        for records in (await self.consumer.getmany(timeout_ms=timeout_ms, max_records=50_000)).values():
            for record in records:
                self._add(record)

    def _add(self, record: Any) -> None:
        try:
            stay = StayCompleted.model_validate_json(record.value)
        except (ValidationError, TypeError):
            log.warning("ignoring an unreadable record on %s at %s", self.topic, record.offset)
            return
        recorded_at = datetime.fromtimestamp(record.timestamp / 1000, timezone.utc)
        self.read += 1
        if not self.daily.add(Stay.of(stay, recorded_at)):
            return
        self._day = (self._day[1], self._day[1])  # look the day's playbook up again (it may be stale now)
        if self.ready_until is not None and recorded_at < self.ready_until - timedelta(days=1) + MARGIN:
            log.warning("a stay recorded at %s arrived after its day's benchmarks were in force: %s",
                        recorded_at.isoformat(), stay.event_id)
