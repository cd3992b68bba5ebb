"""The co-partition merge: one processing order for a backlog, whatever order it arrives in."""

from __future__ import annotations

import random

from processors.runtime.merge import CoPartitionMerge

TOPICS = ("engagement", "commands", "ticks")


def test_a_backlog_is_released_in_timestamp_order_whatever_the_arrival_order() -> None:
    records = [(topic, offset, float(ts)) for topic, stamps in
               (("engagement", [1, 4, 6, 9]), ("commands", [2, 3, 7, 8]), ("ticks", [5]))
               for offset, ts in enumerate(stamps)]
    expected = sorted(records, key=lambda r: r[2])
    for seed in range(20):
        merge: CoPartitionMerge[tuple[str, int, float]] = CoPartitionMerge(TOPICS)
        remaining = {t: [r for r in records if r[0] == t] for t in TOPICS}
        rng = random.Random(seed)
        out: list[tuple[str, int, float]] = []
        while any(remaining.values()):
            topic = rng.choice([t for t in TOPICS if remaining[t]])
            record = remaining[topic].pop(0)  # each partition still arrives in its own order
            merge.add(0, topic, record[1], record[2], record)
            out += merge.release(0, lambda t, left=remaining: not left[t])
        assert out == expected


def test_nothing_is_held_back_by_topics_read_to_their_end() -> None:
    merge: CoPartitionMerge[str] = CoPartitionMerge(TOPICS)
    merge.add(3, "commands", 10, 100.0, "a")
    assert merge.release(3, lambda t: t != "commands") == ["a"]


def test_a_record_waits_for_a_topic_not_yet_read_and_then_goes_after_max_wait() -> None:
    now = [0.0]
    merge: CoPartitionMerge[str] = CoPartitionMerge(TOPICS, max_wait=2.0, clock=lambda: now[0])
    merge.add(1, "engagement", 0, 100.0, "a")
    assert merge.release(1, lambda t: t == "ticks") == []
    assert merge.partitions_waiting() == [1]
    now[0] = 2.5
    assert merge.release(1, lambda t: t == "ticks") == ["a"]
    assert merge.held() == 0


def test_partitions_are_independent_and_clear_drops_what_is_held() -> None:
    merge: CoPartitionMerge[str] = CoPartitionMerge(TOPICS)
    merge.add(0, "engagement", 0, 5.0, "p0")
    merge.add(1, "engagement", 0, 1.0, "p1")
    assert merge.release(1, lambda t: t != "engagement" or False) == ["p1"]
    assert merge.held() == 1
    merge.clear()
    assert merge.held() == 0 and merge.partitions_waiting() == []


def test_awaited_names_the_topics_that_held_records_wait_on() -> None:
    merge: CoPartitionMerge[str] = CoPartitionMerge(TOPICS)
    merge.add(1, "engagement", 0, 100.0, "a")
    merge.add(2, "commands", 0, 100.0, "b")
    merge.release(2, lambda t: True)  # partition 2 holds nothing any more
    assert merge.awaited(lambda topic, partition: topic == "ticks") == [("commands", 1)]


def test_a_topic_running_ahead_is_paused_until_its_held_records_go() -> None:
    merge: CoPartitionMerge[int] = CoPartitionMerge(TOPICS)
    for offset in range(5):  # commands cover more time per fetch than engagement
        merge.add(2, "commands", offset, float(offset), offset)
    merge.add(2, "engagement", 0, 0.5, 100)
    merge.release(2, lambda t: t == "ticks")
    assert merge.pacing(set(), pause_at=3, resume_at=1) == ({("commands", 2)}, set())
    merge.add(2, "engagement", 1, 3.5, 101)  # engagement catches up: commands 1..3 go
    merge.release(2, lambda t: t == "ticks")
    assert merge.pacing({("commands", 2)}, pause_at=3, resume_at=1) == (set(), {("commands", 2)})
