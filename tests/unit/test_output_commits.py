"""Handled records are committed in order, each only once its outputs are acknowledged."""

from __future__ import annotations

import asyncio

from processors.core import DealState
from processors.output_commits import OrderedCommits


def test_commits_wait_for_their_outputs_and_keep_handling_order() -> None:
    async def scenario() -> tuple[list[str], list[str], DealState | None, DealState | None]:
        loop = asyncio.get_running_loop()
        generation = [1]
        commits = OrderedCommits(lambda: generation[0])
        runner = asyncio.create_task(commits.run())
        first_ack, second_ack = loop.create_future(), loop.create_future()
        done: list[str] = []
        first = DealState(deal_id="d1", status="open", seen=["m1"])
        second = DealState(deal_id="d1", status="open", seen=["m1", "m2"])
        await commits.add([first_ack], lambda: done.append("m1"), 1, first)
        await commits.add([second_ack], lambda: done.append("m2"), 1, second)
        newest = commits.state("d1", 1)  # the next message of the deal sees m2 handled
        second_ack.set_result(None)
        await asyncio.sleep(0.01)
        before_first_ack = list(done)  # m2's outputs are in, but m1's are not: nothing yet
        first_ack.set_result(None)
        await asyncio.sleep(0.01)
        after = commits.state("d1", 1)  # stored now: read from the table again
        runner.cancel()
        return before_first_ack, done, newest, after

    before, done, newest, after = asyncio.run(scenario())
    assert before == [] and done == ["m1", "m2"]
    assert newest is not None and newest.seen == ["m1", "m2"] and after is None


def test_a_record_handled_before_a_rebalance_is_not_committed_after_it() -> None:
    async def scenario() -> tuple[list[str], int, DealState | None]:
        generation = [1]
        commits = OrderedCommits(lambda: generation[0])
        runner = asyncio.create_task(commits.run())
        done: list[str] = []
        ack = asyncio.get_running_loop().create_future()
        await commits.add([ack], lambda: done.append("m1"), 1, DealState(deal_id="d1", status="open"))
        generation[0] = 2  # the partition may belong to another worker now
        ack.set_result(None)
        await asyncio.sleep(0.01)
        runner.cancel()
        return done, commits.dropped, commits.state("d1", 2)

    done, dropped, seen_in_new_generation = asyncio.run(scenario())
    assert done == [] and dropped == 1 and seen_in_new_generation is None
