"""The batch worker's checkpoint orders its side effects: outputs acknowledged, then states and
offsets written and acknowledged, then the group commit; a refused write stops it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import pytest

from processors.runtime.checkpoint import Batch, Checkpoints, Offsets, checkpoint
from processors.runtime.state_store import StateStore, offset_key, parse_offset_key


class Broker:
    """Fake producer acknowledgements and commits that log every step."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def pending(self, name: str, error: Exception | None = None, delay: float = 0.01) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle() -> None:
            self.log.append(f"ack {name}" if error is None else f"refused {name}")
            future.set_exception(error) if error is not None else future.set_result(name)

        asyncio.get_running_loop().call_later(delay, settle)
        return future

    def store_states(self, error: Exception | None = None) -> Any:
        async def store(batch: Batch) -> Sequence[Awaitable[Any]]:
            self.log.append(f"write states+offsets {sorted(batch.offsets.items())}")
            return [self.pending("state", error)]

        return store

    async def commit(self, offsets: Offsets) -> None:
        self.log.append(f"commit {sorted(offsets.items())}")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_states_are_written_after_the_outputs_are_acknowledged_and_committed_last() -> None:
    async def scenario() -> list[str]:
        broker = Broker()
        batch = Batch(outputs=[broker.pending("fact", delay=0.03), broker.pending("alert", delay=0.01)])
        batch.read("in", 0, 41)
        batch.read("in", 0, 42)
        await checkpoint(batch, broker.store_states(), broker.commit)
        return broker.log

    assert run(scenario()) == ["ack alert", "ack fact", "write states+offsets [(('in', 0), 43)]", "ack state",
                               "commit [(('in', 0), 43)]"]


def test_a_refused_output_stops_before_any_state_is_written() -> None:
    async def scenario() -> list[str]:
        broker = Broker()
        batch = Batch(outputs=[broker.pending("fact", RuntimeError("refused"))])
        batch.read("in", 0, 1)
        with pytest.raises(RuntimeError):
            await checkpoint(batch, broker.store_states(), broker.commit)
        return broker.log

    assert run(scenario()) == ["refused fact"]


def test_a_refused_state_write_stops_before_the_commit() -> None:
    async def scenario() -> list[str]:
        broker = Broker()
        batch = Batch()
        batch.read("in", 3, 7)
        with pytest.raises(RuntimeError):
            await checkpoint(batch, broker.store_states(RuntimeError("refused")), broker.commit)
        return broker.log

    assert run(scenario()) == ["write states+offsets [(('in', 3), 8)]", "refused state"]


def test_background_checkpoints_run_one_after_another_in_order() -> None:
    async def scenario() -> list[str]:
        broker = Broker()
        checkpoints = Checkpoints(broker.store_states(), broker.commit)
        first = Batch(outputs=[broker.pending("fact 1", delay=0.05)])
        first.read("in", 0, 1)
        await checkpoints.submit(first)
        broker.log.append("handling batch 2")  # the worker goes on while batch 1 waits for its acks
        second = Batch(outputs=[broker.pending("fact 2", delay=0.001)])
        second.read("in", 0, 2)
        await checkpoints.submit(second)
        await checkpoints.drain()
        return broker.log

    assert run(scenario()) == [
        "handling batch 2", "ack fact 2", "ack fact 1", "write states+offsets [(('in', 0), 2)]", "ack state",
        "commit [(('in', 0), 2)]", "write states+offsets [(('in', 0), 3)]", "ack state", "commit [(('in', 0), 3)]"]


def test_a_failed_background_checkpoint_stops_the_next_one() -> None:
    async def scenario() -> list[str]:
        broker = Broker()
        checkpoints = Checkpoints(broker.store_states(), broker.commit)
        await checkpoints.submit(Batch(outputs=[broker.pending("fact 1", RuntimeError("refused"))]))
        with pytest.raises(RuntimeError):
            await checkpoints.submit(Batch(outputs=[broker.pending("fact 2")]))
        return broker.log

    assert "write states+offsets" not in " ".join(run(scenario()))


def test_the_store_writes_each_touched_deal_once_and_restores_states_and_offsets() -> None:
    from processors.core import DealState

    store = StateStore()
    store.put(DealState(deal_id="d1"), 2)
    store.put(DealState(deal_id="d1", name="newer"), 2)
    store.put(DealState(deal_id="d2"), 5)
    written = store.take_dirty()
    assert [(partition, deal) for partition, deal, _ in written] == [(2, "d1"), (5, "d2")]
    assert store.take_dirty() == []
    restored = StateStore()
    restored.restored(2, [(deal, data) for _, deal, data in written[:1]] + [(offset_key("in", 2), b"17")])
    assert restored.load("d1").name == "newer"
    assert restored.offsets == {("in", 2): 17}
    assert parse_offset_key(offset_key("a.b:c", 4)) == ("a.b:c", 4)
    restored.drop({2})
    assert len(restored) == 0 and restored.offsets == {}
