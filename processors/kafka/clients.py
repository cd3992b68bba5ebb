"""Small Kafka helpers for the CLI and tests: producing inbound messages and reading topics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from processors.config import Topics
from processors.kafka.security import client_options
from schemas.inbound import ENGAGEMENT_TYPES


def _options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The given security options, or those of ``Settings.from_env()``."""
    return client_options() if options is None else options


def producer(bootstrap: str, options: dict[str, Any] | None = None) -> KafkaProducer:
    """A producer that waits for all in-sync replicas; ``options``: security (default: from Settings)."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **_options(options))


def route(message: dict[str, Any] | str, topics: Topics) -> tuple[str, bytes | None, bytes]:
    """The topic, key and value for an inbound message (raw strings go to the commands topic)."""
    if isinstance(message, str):
        return topics.commands, None, message.encode("utf-8")
    topic = topics.engagement if message.get("type") in ENGAGEMENT_TYPES else topics.commands
    key = str(message.get("deal_id", "")).encode("utf-8") or None
    return topic, key, json.dumps(message).encode("utf-8")


def produce(bootstrap: str, topics: Topics, messages: Iterable[dict[str, Any] | str], delay: float = 0.0,
            first_timestamp_ms: int | None = None, options: dict[str, Any] | None = None) -> int:
    """Send inbound messages to their topics, keyed by ``deal_id``; return how many were sent.

    With ``first_timestamp_ms``, the records get that timestamp and the following milliseconds
    (one each, in order) instead of the send time: the same stream produced twice is then the
    same input, down to the order the worker merges its topics in. ``options``: the client's
    security options (default: those of ``Settings.from_env()``).
    """
    sent = 0
    kafka = producer(bootstrap, options)
    try:
        for message in messages:
            topic, key, value = route(message, topics)
            stamp = None if first_timestamp_ms is None else first_timestamp_ms + sent
            kafka.send(topic, key=key, value=value, timestamp_ms=stamp)
            sent += 1
            if delay:
                kafka.flush()
                time.sleep(delay)
        kafka.flush()
    finally:
        kafka.close()
    return sent


def read_topic(
    bootstrap: str, topic: str, *, from_beginning: bool = True, timeout: float = 5.0,
    until: int | None = None, options: dict[str, Any] | None = None,
) -> Iterator[tuple[bytes | None, bytes]]:
    """Yield (key, value) of a topic's records until ``timeout`` seconds pass without one
    (or ``until`` records were read); ``options``: security (default: from Settings)."""
    for record in read_records(bootstrap, topic, from_beginning=from_beginning, timeout=timeout, until=until,
                               options=options):
        yield record.key, record.value


def read_records(
    bootstrap: str, topic: str, *, from_beginning: bool = True, timeout: float = 5.0,
    until: int | None = None, options: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """:func:`read_topic`, yielding the whole records (kafka-python ``ConsumerRecord``: key, value,
    timestamp, ...)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **_options(options))
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        read, idle_since = 0, time.monotonic()
        while time.monotonic() - idle_since < timeout:
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                for record in batch:
                    idle_since = time.monotonic()
                    yield record
                    read += 1
                    if until is not None and read >= until:
                        return
    finally:
        consumer.close()
