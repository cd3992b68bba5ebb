"""Handled records are stored in order, each only once its outputs are acknowledged, and a
batch writes each deal's newest state and each partition's offset once, offsets last."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from processors.core import DealState
from processors.runtime.output_commits import Handled, OrderedCommits, coalesce

LOOP_TURNS = 50
"""Event-loop turns that let the committing task do all it can (a handful would do)."""


async def _let_run() -> None:
    """Let the other tasks run as far as they can: turns of the loop, not a wall-clock wait, so a
    busy machine cannot make the check come first."""
    for _ in range(LOOP_TURNS):
        await asyncio.sleep(0)


def test_records_wait_for_their_outputs_and_keep_handling_order() -> None:
    async def scenario() -> tuple[list[str], list[list[str]], DealState | None, DealState | None]:
        loop = asyncio.get_running_loop()
        stored: list[list[str]] = []
        commits: OrderedCommits[str] = OrderedCommits(lambda: 1, lambda batch: stored.append([h.source for h in batch]))
        runner = asyncio.create_task(commits.run())
        first_ack, second_ack = loop.create_future(), loop.create_future()
        first = DealState(deal_id="d1", status="open", seen=["m1"])
        second = DealState(deal_id="d1", status="open", seen=["m1", "m2"])
        await commits.add(Handled("m1", 0, 1, first), [first_ack])
        await commits.add(Handled("m2", 0, 1, second), [second_ack])
        newest = commits.state("d1", 1)  # the next message of the deal sees m2 handled
        second_ack.set_result(None)
        await _let_run()
        before_first_ack = [source for batch in stored for source in batch]  # m1's outputs are not in: nothing
        first_ack.set_result(None)
        await _let_run()
        after = commits.state("d1", 1)  # stored now: read from the table again
        runner.cancel()
        return before_first_ack, stored, newest, after

    before, stored, newest, after = asyncio.run(scenario())
    assert before == [] and stored == [["m1", "m2"]]  # both ready at once: one batch, in order
    assert newest is not None and newest.seen == ["m1", "m2"] and after is None


def test_a_batch_stops_at_the_first_record_whose_outputs_are_not_in() -> None:
    async def scenario() -> list[list[str]]:
        loop = asyncio.get_running_loop()
        stored: list[list[str]] = []
        commits: OrderedCommits[str] = OrderedCommits(lambda: 1, lambda batch: stored.append([h.source for h in batch]))
        acks = [loop.create_future() for _ in range(4)]
        for number, ack in enumerate(acks, start=1):
            await commits.add(Handled(f"m{number}", 0, 1, None), [ack])
        for index in (0, 1, 3):
            acks[index].set_result(None)
        runner = asyncio.create_task(commits.run())
        await _let_run()
        acks[2].set_result(None)
        await _let_run()
        runner.cancel()
        return stored

    assert asyncio.run(scenario()) == [["m1", "m2"], ["m3", "m4"]]


def test_a_refused_output_stops_the_commits_before_storing_its_batch() -> None:
    async def scenario() -> tuple[list[list[str]], BaseException | None]:
        loop = asyncio.get_running_loop()
        stored: list[list[str]] = []
        commits: OrderedCommits[str] = OrderedCommits(lambda: 1, lambda batch: stored.append([h.source for h in batch]))
        good, bad = loop.create_future(), loop.create_future()
        good.set_result(None)
        bad.set_exception(RuntimeError("refused"))
        await commits.add(Handled("m1", 0, 1, None), [good])
        await commits.add(Handled("m2", 0, 1, None), [bad])
        runner = asyncio.create_task(commits.run())
        await asyncio.wait([runner], timeout=10)
        return stored, runner.exception() if runner.done() else None

    stored, error = asyncio.run(scenario())
    assert stored == [] and isinstance(error, RuntimeError)


def test_a_record_handled_before_a_rebalance_is_not_stored_after_it() -> None:
    async def scenario() -> tuple[list[Sequence[Handled[str]]], int, DealState | None]:
        generation = [1]
        stored: list[Sequence[Handled[str]]] = []
        commits: OrderedCommits[str] = OrderedCommits(lambda: generation[0], stored.append)
        runner = asyncio.create_task(commits.run())
        ack = asyncio.get_running_loop().create_future()
        await commits.add(Handled("m1", 0, 1, DealState(deal_id="d1", status="open")), [ack])
        generation[0] = 2  # the partition may belong to another worker now
        ack.set_result(None)
        await _let_run()
        runner.cancel()
        return stored, commits.dropped, commits.state("d1", 2)

    stored, dropped, seen_in_new_generation = asyncio.run(scenario())
    assert stored == [] and dropped == 1 and seen_in_new_generation is None


def test_coalesce_writes_each_deals_newest_state_then_each_partitions_last_record() -> None:
    def state(deal: str, seen: str) -> DealState:
        return DealState(deal_id=deal, status="open", seen=[seen])

    batch = [Handled("a1", ("commands", 0), 1, state("a", "a1")),
             Handled("b1", ("engagement", 1), 1, state("b", "b1")),
             Handled("tick", ("ticks", 0), 1, None),
             Handled("a2", ("engagement", 0), 1, state("a", "a2")),
             Handled("a3", ("commands", 0), 1, state("a", "a3"))]
    writes = coalesce(batch)
    assert [(s.deal_id, s.seen, source) for s, source in writes.states] == [("a", ["a3"], "a3"), ("b", ["b1"], "b1")]
    assert writes.offsets == ["a3", "b1", "tick", "a2"]
