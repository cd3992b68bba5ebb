"""The outbox puts a keyed record in the partition the producer's default partitioner would."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from processors.runtime.outbox import Outbox


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=50))
def test_a_key_goes_where_the_default_partitioner_sends_it_on_every_topic(keys: list[bytes]) -> None:
    producer: Any = None  # partition() never touches the producer
    outbox = Outbox(producer)
    outbox.partitions = {"events": [0, 1, 2, 3, 4, 5], "alerts": [0, 1, 2], "stays": [0]}
    default = DefaultPartitioner()
    for key in keys + keys:  # the second time from the remembered hash
        for topic, partitions in outbox.partitions.items():
            assert outbox.partition(topic, key) == default(key, partitions, None)
