"""The deadline index: due deals in time order, rescheduling, bounded memory."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from processors.core.deadlines import DeadlineIndex

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_due_deals_come_out_in_time_order_with_only_their_latest_schedule() -> None:
    index = DeadlineIndex()
    index.schedule("a", T0 + timedelta(days=3))
    index.schedule("b", T0 + timedelta(days=1))
    index.schedule("a", T0 + timedelta(days=2))  # rescheduled: the day-3 entry no longer counts
    index.schedule("c", T0 + timedelta(days=5))
    index.schedule("c", None)  # nothing due any more
    assert index.pop_due(T0 + timedelta(days=10)) == [(T0 + timedelta(days=1), "b"), (T0 + timedelta(days=2), "a")]
    assert len(index) == 0


def test_rescheduling_the_same_deals_again_and_again_keeps_the_heap_bounded() -> None:
    index = DeadlineIndex()
    for n in range(50_000):  # a live worker moves each deal's wake-up forward with every message
        index.schedule(f"deal-{n % 100}", T0 + timedelta(minutes=n))
    assert len(index) == 100
    assert index.heap_size() <= 2 * 100 + 1025
    due = index.pop_due(T0 + timedelta(days=365))
    assert [deal for _, deal in due] == [f"deal-{n % 100}" for n in range(49_900, 50_000)]
