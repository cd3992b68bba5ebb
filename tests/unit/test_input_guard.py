"""The input gap guard: skipped records are re-read, handled ones skipped, real holes accepted."""

from __future__ import annotations

import asyncio

from processors.runtime.input_guard import GapGuard, Partition, Verdict

TP: Partition = ("dealflow.commands", 3)


class Log:
    """A partition's records (their offsets) as the broker holds them."""

    def __init__(self, offsets: list[int]) -> None:
        self.offsets = offsets
        self.asked: list[int] = []

    async def first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        self.asked.append(offset)
        return next((o for o in self.offsets if o >= offset), None)

    async def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        self.asked_ends = getattr(self, "asked_ends", 0) + 1
        return {p: (self.offsets[-1] + 1 if self.offsets else 0) for p in partitions}


class SyncGuard(GapGuard):
    """The guard with its (async) admit driven to completion and the record finished at once
    (as the worker does once it has handled it), for brevity below."""

    def admit(self, partition: Partition, offset: int, generation: object) -> Verdict:  # type: ignore[override]
        verdict = asyncio.run(GapGuard.admit(self, partition, offset, generation))
        self.finished()
        return verdict

    def admit_and_hold(self, partition: Partition, offset: int, generation: object) -> Verdict:
        """Admit a record the worker then keeps (e.g. waiting for room in its commit queue)."""
        return asyncio.run(GapGuard.admit(self, partition, offset, generation))


def guard(log: Log, stored: int | None = None, clock: list[float] | None = None) -> SyncGuard:
    now = clock if clock is not None else [0.0]
    return SyncGuard(log, lambda partition: stored, clock=lambda: now[0])


def test_contiguous_records_are_processed_without_asking_the_broker() -> None:
    log = Log(list(range(10)))
    g = guard(log, stored=0)
    assert all(g.admit(TP, offset, 1) == Verdict(process=True) for offset in range(10))
    assert log.asked == []


def test_records_the_consumer_skipped_are_re_read_and_late_copies_ignored_meanwhile() -> None:
    log = Log(list(range(30)))
    g = guard(log)
    assert [g.admit(TP, o, 1).process for o in (0, 1, 2)] == [True, True, True]
    assert g.admit(TP, 15, 1) == Verdict(process=False, seek_to=3)  # 3..14 never arrived
    assert g.admit(TP, 16, 1) == Verdict(process=False)  # fetched before the seek
    assert [g.admit(TP, o, 1).process for o in range(3, 20)] == [True] * 17  # the re-read
    assert g.reread == 12


def test_first_record_of_a_generation_is_checked_against_the_stored_offset() -> None:
    log = Log(list(range(200)))
    g = guard(log, stored=107)
    assert g.admit(TP, 100, 7) == Verdict(process=False, handled=True)  # handled before the restart
    assert g.admit(TP, 117, 7) == Verdict(process=False, seek_to=107)  # 107..116 would be lost
    assert g.admit(TP, 107, 7) == Verdict(process=True)


def test_a_real_hole_in_the_log_is_accepted() -> None:
    log = Log([0, 1, 2, 5, 6])  # 3 and 4: transaction markers (or compacted away)
    g = guard(log, stored=0)
    assert [g.admit(TP, o, 1).process for o in (0, 1, 2, 5, 6)] == [True] * 5
    assert log.asked == [3]


def test_a_new_generation_starts_again_from_the_stored_offset() -> None:
    log = Log(list(range(50)))
    g = guard(log, stored=10)
    assert g.admit(TP, 10, 1).process
    assert g.admit(TP, 11, 1).process
    assert g.admit(TP, 10, 2) == Verdict(process=True)  # new generation: from the stored offset again


def test_a_re_read_that_never_comes_is_asked_for_again() -> None:
    log = Log(list(range(30)))
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process
    assert g.admit(TP, 9, 1).seek_to == 1
    clock[0] = 30.0
    assert g.admit(TP, 9, 1).seek_to == 1  # asks the broker again


def test_a_partition_waiting_too_long_for_its_re_read_is_due_for_another_seek() -> None:
    log = Log(list(range(30)))
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process and g.admit(TP, 9, 1).seek_to == 1
    assert g.overdue() == []
    clock[0] = 5.0
    assert g.overdue() == [(TP, 1)]
    assert g.overdue() == []  # asked again only after another wait
    assert g.admit(TP, 1, 1).process and g.overdue() == []


def stalled(g: GapGuard, partitions: list[Partition], awaited: list[Partition] | None = None,
            ) -> list[tuple[Partition, int]]:
    return asyncio.run(g.stalled_tails(partitions, awaited or []))


def test_a_dropped_last_record_is_re_read_once_the_partition_has_stalled() -> None:
    log = Log(list(range(5)))
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert [g.admit(TP, o, 1).process for o in (0, 1, 2, 3)] == [True] * 4  # 4 never arrives
    clock[0] = 4.0
    assert stalled(g, [TP]) == []  # not stalled long enough to ask
    assert getattr(log, "asked_ends", 0) == 0
    clock[0] = 9.0
    assert stalled(g, [TP]) == [(TP, 4)]
    assert g.admit(TP, 4, 1) == Verdict(process=True)
    clock[0] = 20.0
    assert stalled(g, [TP]) == []  # read to its end: nothing to re-read


def test_a_partition_that_delivered_nothing_in_a_generation_is_checked_against_the_stored_offset() -> None:
    log = Log(list(range(12)))
    clock = [0.0]
    g = guard(log, stored=10, clock=clock)
    g.start_generation(3)
    assert stalled(g, [TP]) == []  # the track starts now
    clock[0] = 6.0
    assert stalled(g, [TP]) == [(TP, 10)]  # 10 and 11 were never delivered
    assert stalled(g, [TP]) == []  # waiting for the re-read (overdue() seeks again if it does not come)
    clock[0] = 8.5
    assert g.overdue() == [(TP, 10)]


def test_a_quiet_partition_read_to_its_end_is_not_re_read() -> None:
    log = Log(list(range(3)))
    clock = [0.0]
    g = guard(log, stored=3, clock=clock)
    assert stalled(g, [TP]) == []  # the track starts now
    clock[0] = 100.0
    assert stalled(g, [TP]) == []
    assert stalled(g, [TP]) == []
    assert log.asked_ends == 1  # checked once per stall_after, not on every call


class Unreachable(Log):
    """A broker that cannot answer right now."""

    async def first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        raise TimeoutError("no answer")

    async def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        raise KeyError(partitions[0])


def test_when_the_broker_cannot_tell_the_guard_re_reads_rather_than_guess() -> None:
    clock = [0.0]
    g = guard(Unreachable([]), stored=5, clock=clock)
    assert g.admit(TP, 9, 1) == Verdict(process=False, seek_to=5)  # maybe 5..8 exist: read them again
    clock[0] = 10.0
    assert stalled(g, [TP]) == []  # no answer, no crash: checked again later


def test_no_tail_is_re_read_while_records_keep_arriving() -> None:
    """Under a backlog a partition can wait its turn for long; only an idle stream is checked."""
    log = Log(list(range(100)))
    other: Partition = ("dealflow.engagement", 3)
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process
    for second in range(1, 30):
        clock[0] = float(second)
        assert g.admit(other, second - 1, 1).process  # the other partition flows
        assert stalled(g, [TP, other]) == []
    clock[0] = 40.0  # now nothing arrives at all
    assert stalled(g, [TP]) == [(TP, 1)]


def test_nothing_is_stalled_while_the_worker_holds_a_record() -> None:
    """During a broker outage the worker waits for room in its commit queue: the records behind
    the one it holds are buffered, not lost, so they are not re-read."""
    log = Log(list(range(100)))
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process
    assert g.admit_and_hold(TP, 1, 1).process  # the worker blocks on record 1
    clock[0] = 90.0
    assert stalled(g, [TP]) == []
    assert getattr(log, "asked_ends", 0) == 0
    g.finished()  # room again: the stall clock starts now
    clock[0] = 94.0
    assert stalled(g, [TP]) == []
    clock[0] = 96.0
    assert stalled(g, [TP]) == [(TP, 2)]  # now nothing arrived for stall_after: 2..99 are re-read


def test_an_overdue_re_read_is_asked_for_again_while_other_records_keep_the_worker_busy() -> None:
    """Under a backlog the worker nearly always holds some record when the timer runs."""
    log = Log(list(range(100)))
    other: Partition = ("dealflow.engagement", 3)
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process and g.admit(TP, 9, 1).seek_to == 1
    assert g.admit_and_hold(other, 0, 1).process
    clock[0] = 3.0
    assert g.overdue() == [(TP, 1)]


def test_a_partition_held_records_wait_on_is_checked_while_others_flow() -> None:
    """A record dropped at the tail of one topic while the others keep flowing: the merge holds
    that partition's records for it, so it is checked without waiting for the stream to go idle."""
    log = Log(list(range(5)))
    other: Partition = ("dealflow.engagement", 3)
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert [g.admit(TP, o, 1).process for o in (0, 1, 2, 3)] == [True] * 4  # 4 never arrives
    for second in range(1, 40):
        clock[0] = float(second)
        assert g.admit(other, second - 1, 1).process
        if second == 20:  # under a backlog a partition can take a while: no seek yet
            assert stalled(g, [TP, other], awaited=[TP]) == []
    assert stalled(g, [TP, other]) == []  # records flow and nothing waits on TP
    assert stalled(g, [TP, other], awaited=[TP]) == [(TP, 4)]


def test_each_seek_for_the_same_re_read_waits_twice_as_long() -> None:
    """A seek sends the partition to the back of the fetch: asking again too soon keeps it there."""
    log = Log(list(range(100)))
    clock = [0.0]
    g = guard(log, stored=0, clock=clock)
    assert g.admit(TP, 0, 1).process and g.admit(TP, 9, 1).seek_to == 1
    asked_at = []
    for tenth in range(1, 400):
        clock[0] = tenth / 10
        if g.overdue():
            asked_at.append(clock[0])
    assert asked_at == [2.0, 6.0, 14.0, 30.0]  # waits of 2, 4, 8 and 16 s
    assert g.admit(TP, 1, 1).process  # the re-read: the next wait starts at 2 s again
    assert g.admit(TP, 12, 1).seek_to == 2
    clock[0] += 2.0
    assert g.overdue() == [(TP, 2)]
