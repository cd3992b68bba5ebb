"""Guard against input records the stream runtime skipped, so no message goes unprocessed.

Faust can drop fetched records around a rebalance: after a partition is (re)assigned, the
agent has been seen to receive offsets 0..2 and then 15.. of a partition, 3..14 never
delivered (records fetched before the seek to the committed offset are discarded). Those
messages would be lost for good once later offsets are committed.

The guard checks each partition's offsets as they reach the agent. It expects the first
record of a partition in a consumer generation at the offset the worker itself stored as
handled (in its state table, after the deal's state, so never ahead of it; the start of the
partition when nothing is stored; the group's committed offset cannot be trusted for this, as
the runtime commits what it acknowledged), and every later one right after the previous.
When a record arrives beyond that, it asks the broker whether records really exist in
between (transaction markers and compaction leave legitimate holes); if they do, it seeks the
consumer back and skips records until the missing one arrives. Records below the expected
offset were already handled and are skipped.

A record the runtime drops at the end of what was produced (the last record of a partition,
or everything fetched in a generation that a rebalance ended) is followed by no later record
that would reveal the hole, so the guard also watches for stalled tails: when no record at all
has reached it for ``stall_after`` seconds, a partition whose end on the broker lies beyond the
expected offset is re-read from there, and so is a partition that held records of the other
topics have waited on for ``awaited_stall_after`` seconds. Only then: under a backlog a
partition can wait its turn for longer than that, and re-reading it would only slow the runtime
down (a hole followed by later records is noticed by ``admit`` anyway). For the same reason a
re-read that does not come is asked for again after a wait that doubles each time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("dealflow.worker")

Partition = tuple[str, int]


class OffsetsProbe(Protocol):
    """What the guard asks the broker."""

    async def first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        """The offset of the first record at or after ``offset``, or None when there is none yet."""

    async def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        """The offset the next record of each partition will get (its end on the broker)."""


@dataclass(frozen=True)
class Verdict:
    process: bool
    seek_to: int | None = None
    handled: bool = False  # not processed because it already was (below the expected offset)


@dataclass
class _Track:
    expected: int | None
    last_progress: float  # when a record was last admitted or skipped as handled (or the track began)
    waiting_since: float | None = None  # set while waiting for a re-read after a seek (the latest seek)
    seeks: int = 0  # seeks made while waiting: each one waits twice as long for the re-read


@dataclass
class GapGuard:
    """Decides, per input record, whether to process it, skip it, or seek back first."""

    probe: OffsetsProbe
    stored_next: Callable[[Partition], int | None]  # the next offset to handle, as the worker stored it
    clock: Callable[[], float] = time.monotonic
    reseek_after: float = 2.0
    max_reseek_after: float = 60.0
    stall_after: float = 5.0
    awaited_stall_after: float = 30.0
    generation: Any = None
    tracks: dict[Partition, _Track] = field(default_factory=dict)
    last_admitted: float = float("-inf")  # when a record last reached the guard, or the worker was done with one
    busy: bool = False  # the worker holds a record (handling it, or waiting to queue it), not waiting for one
    reread: int = 0  # records re-read because the runtime skipped them (for metrics and tests)

    def start_generation(self, generation: Any) -> bool:
        """Start over for a new consumer generation (a new assignment); whether it was new."""
        if generation == self.generation:
            return False
        self.tracks.clear()
        self.generation = generation
        return True

    def _track(self, partition: Partition) -> _Track:
        track = self.tracks.get(partition)
        if track is None:
            track = self.tracks[partition] = _Track(self.stored_next(partition), last_progress=self.clock())
        return track

    async def admit(self, partition: Partition, offset: int, generation: Any) -> Verdict:
        """The verdict for the record at ``offset`` of ``partition``, delivered in ``generation``."""
        self.start_generation(generation)
        self.last_admitted = self.clock()
        self.busy = True
        track = self._track(partition)
        expected = track.expected
        if expected is None or offset == expected:
            track.expected, track.waiting_since, track.last_progress = offset + 1, None, self.clock()
            return Verdict(process=True)
        if offset < expected:
            track.last_progress = self.clock()
            return Verdict(process=False, handled=True)
        if track.waiting_since is not None and self.clock() - track.waiting_since < self._patience(track):
            return Verdict(process=False)  # a record fetched before our seek; the re-read is coming
        try:
            first = await self.probe.first_at_or_after(partition, expected)
        except Exception as error:  # the broker cannot tell now: re-read to be safe, ask again then
            log.warning("input %s[%d]: cannot check offsets %d..%d on the broker (%r); re-reading from %d",
                        partition[0], partition[1], expected, offset - 1, error, expected)
            self._seeking(track, self.clock())
            return Verdict(process=False, seek_to=expected)
        if first is None or first >= offset:  # nothing in between: a legitimate hole in the log
            track.expected, track.waiting_since, track.last_progress = offset + 1, None, self.clock()
            return Verdict(process=True)
        log.warning("input %s[%d]: offsets %d..%d were skipped by the consumer; re-reading from %d",
                    partition[0], partition[1], expected, offset - 1, first)
        track.expected = first
        self._seeking(track, self.clock())
        self.reread += offset - first
        return Verdict(process=False, seek_to=first)

    def finished(self) -> None:
        """The worker is done with the record it was given and waits for the next one.

        While it holds a record (e.g. waiting for room in the commit queue during a broker
        outage) nothing new can reach the guard, so no partition counts as stalled. (A re-read
        that is overdue is asked for again all the same: under a backlog the worker nearly
        always holds a record when the timer runs, and seeking again costs only a re-fetch.)
        """
        self.busy = False
        self.last_admitted = self.clock()

    def _seeking(self, track: _Track, now: float) -> None:
        """A seek back for ``track`` is being made now (the first of a wait, or one more)."""
        track.seeks = track.seeks + 1 if track.waiting_since is not None else 1
        track.waiting_since = now

    def _patience(self, track: _Track) -> float:
        """How long to wait for the re-read after the latest seek: it doubles with every seek of
        the same wait, because each seek also sends the partition to the back of the fetch."""
        return min(self.reseek_after * 2 ** max(0, track.seeks - 1), self.max_reseek_after)

    def overdue(self) -> list[tuple[Partition, int]]:
        """Partitions still waiting for a re-read ``reseek_after`` seconds after their seek.

        The runtime can discard the re-read too (a batch fetched before the seek, still being
        delivered, moves its read position past it), so the caller seeks again; by then that
        batch is through.
        """
        now, due = self.clock(), []
        for partition, track in self.tracks.items():
            if track.waiting_since is not None and track.expected is not None \
                    and now - track.waiting_since >= self._patience(track):
                self._seeking(track, now)
                due.append((partition, track.expected))
        return due

    async def stalled_tails(self, partitions: list[Partition],
                            awaited: Collection[Partition] = ()) -> list[tuple[Partition, int]]:
        """Partitions (of the assigned ``partitions``) to re-read from the returned offset.

        Those with no progress for ``stall_after`` seconds while no record of any partition
        arrived for as long, or, for the ``awaited`` ones (held records wait on them), for
        ``awaited_stall_after`` seconds even while others flow; and the broker holds records
        from the expected offset on: the runtime dropped them, and no later record arrived to
        tell. (Under a backlog a partition's next records can take a while to come through; a
        seek would only send it to the back of the fetch, hence the longer wait.)
        """
        now = self.clock()
        flowing = self.busy or now - self.last_admitted < self.stall_after

        def stalled(partition: Partition, track: _Track) -> bool:
            quiet = now - track.last_progress
            return quiet >= self.stall_after if not flowing else \
                (partition in awaited and quiet >= self.awaited_stall_after)

        idle = [p for p in partitions
                if (track := self._track(p)).expected is not None and track.waiting_since is None
                and stalled(p, track)]
        if not idle:
            return []
        try:
            ends = await self.probe.end_offsets(idle)
        except Exception as error:  # e.g. a topic the client's metadata does not know yet; next round
            log.warning("cannot read the input partitions' end offsets (%r); checking again shortly", error)
            for partition in idle:
                self.tracks[partition].last_progress = now
            return []
        due = []
        for partition in idle:
            track = self.tracks.get(partition)
            if track is None or track.expected is None:  # a new generation began meanwhile
                continue
            track.last_progress = now  # checked: the next check of this partition is stall_after away
            end = ends.get(partition)
            if end is not None and end > track.expected:
                log.warning("input %s[%d]: records %d..%d not delivered; re-reading from %d",
                            partition[0], partition[1], track.expected, end - 1, track.expected)
                self._seeking(track, now)
                self.reread += end - track.expected
                due.append((partition, track.expected))
        return due


class KafkaOffsetsProbe:
    """``OffsetsProbe`` over a kafka-python consumer of its own, run in a thread of its own
    (its calls block; the worker's event loop must not)."""

    def __init__(self, bootstrap: str, client_options: dict[str, Any]) -> None:
        self.bootstrap, self.client_options = bootstrap, client_options
        self.consumer: Any = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offsets-probe")

    async def first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        return await asyncio.get_running_loop().run_in_executor(self.thread, self._first_at_or_after, partition,
                                                                offset)

    async def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        return await asyncio.get_running_loop().run_in_executor(self.thread, self._end_offsets, partitions)

    def _connected(self) -> Any:
        from kafka import KafkaConsumer

        if self.consumer is None:  # connects on first use, not when the worker starts
            self.consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                          max_poll_records=1, **self.client_options)
        return self.consumer

    def _end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        from kafka import TopicPartition

        try:
            ends = self._connected().end_offsets([TopicPartition(*p) for p in partitions])
        except Exception:
            self._reset()
            raise
        return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    def _reset(self) -> None:
        """Drop the client after a failure; the next call starts a fresh one."""
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:  # noqa: BLE001 - closing a broken client must not fail the caller
                pass
            self.consumer = None

    def _first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        from kafka import TopicPartition

        try:
            consumer = self._connected()
            tp = TopicPartition(*partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                records = consumer.poll(timeout_ms=500, max_records=1).get(tp, [])
                if records:
                    return int(records[0].offset)
                if consumer.end_offsets([tp])[tp] <= consumer.position(tp):
                    return None
        except Exception:
            self._reset()
            raise
        # Never guess "nothing there": the caller re-reads instead.
        raise TimeoutError(f"no answer about {partition[0]}[{partition[1]}] from offset {offset} within 5 s")

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        self.thread.shutdown(wait=False)
