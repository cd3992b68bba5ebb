"""The input gap guard: skipped records are re-read, handled ones skipped, real holes accepted."""

from __future__ import annotations

import asyncio

from processors.input_guard import GapGuard, Partition, Verdict

TP: Partition = ("dealflow.commands", 3)


class Log:
    """A partition's records (their offsets) as the broker holds them."""

    def __init__(self, offsets: list[int]) -> None:
        self.offsets = offsets
        self.asked: list[int] = []

    async def first_at_or_after(self, partition: Partition, offset: int) -> int | None:
        self.asked.append(offset)
        return next((o for o in self.offsets if o >= offset), None)


class SyncGuard(GapGuard):
    """The guard with its (async) admit driven to completion, for brevity below."""

    def admit(self, partition: Partition, offset: int, generation: object) -> Verdict:  # type: ignore[override]
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
