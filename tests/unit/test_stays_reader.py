"""The stays reader's day boundary: nothing is handled from MARGIN before midnight UTC until the
stays topic was read to its end SETTLE after it; in between, it only follows the topic."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from processors.playbooks.loader import default_playbook
from processors.runtime import stays
from processors.runtime.stays import MARGIN, SETTLE, SharedBenchmarks

MIDNIGHT = datetime(2026, 12, 3, tzinfo=timezone.utc)


class Clock:
    """The reader's wall clock, moved by its sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _reader(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> tuple[SharedBenchmarks, list[datetime]]:
    reader = SharedBenchmarks("stays", default_playbook(), {})
    reader.consumer = object()  # type: ignore[assignment]  # started
    caught_up: list[datetime] = []

    async def catch_up() -> None:
        caught_up.append(clock.now)

    async def follow(timeout_ms: int = 0) -> None:
        return None

    monkeypatch.setattr(stays, "_utcnow", lambda: clock.now)
    monkeypatch.setattr(stays.asyncio, "sleep", clock.sleep)
    monkeypatch.setattr(reader, "catch_up", catch_up)
    monkeypatch.setattr(reader, "_follow", follow)
    return reader, caught_up


def _run(coroutine: Any) -> None:
    asyncio.run(coroutine)


def test_a_day_starts_once_the_stays_before_it_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(MIDNIGHT - timedelta(hours=12))
    reader, caught_up = _reader(monkeypatch, clock)
    _run(reader.ready())  # at start, at noon: read to the end at once
    assert caught_up == [clock.now] and clock.slept == []
    clock.now = MIDNIGHT - MARGIN - timedelta(seconds=1)
    _run(reader.ready())  # still the day that was read: only follows
    assert len(caught_up) == 1
    clock.now = MIDNIGHT - MARGIN + timedelta(seconds=1)
    _run(reader.ready())  # too close to midnight: waits for it and SETTLE, then reads to the end
    assert caught_up[-1] == MIDNIGHT + SETTLE and len(caught_up) == 2
    _run(reader.ready())
    assert len(caught_up) == 2


def test_a_worker_starting_just_after_midnight_waits_out_the_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(MIDNIGHT + timedelta(seconds=1))
    reader, caught_up = _reader(monkeypatch, clock)
    _run(reader.ready())
    assert caught_up == [MIDNIGHT + SETTLE]


def test_a_worker_idle_over_midnight_reads_to_the_end_before_the_next_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(MIDNIGHT - timedelta(hours=1))
    reader, caught_up = _reader(monkeypatch, clock)
    _run(reader.ready())
    clock.now = MIDNIGHT + timedelta(hours=2)
    _run(reader.ready())
    assert caught_up == [MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=2)] and clock.slept == []
