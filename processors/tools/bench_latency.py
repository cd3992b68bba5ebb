"""The bench's latency runs: produce -> alert and produce -> PostgreSQL row at a fixed offered load."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from processors.config import Settings
from processors.core.ids import message_alert_id

LATENCY_WAIT = 30.0
"""Seconds a latency run waits after its last message for the alerts and rows still due."""
PRODUCER_LINGER_MS = 5
"""How long the bench's producer gathers messages into one request. The time a message waits
there counts in its latency (it is noted as sent before); with no wait, kafka-python sent each
message in a request of its own, and the bench took more of the shared cores than the worker."""


def percentiles(values: list[float], expected: int | None = None, waited: float = LATENCY_WAIT) -> str:
    """p50/p95/p99 in ms; of ``expected`` samples, the missing ones count as later than ``waited`` s."""
    expected = max(expected or len(values), len(values))
    if not expected:
        return "no samples"
    ordered = sorted(values)

    def pick(q: float) -> str:
        index = min(expected - 1, int(q * expected))
        return f"{ordered[index] * 1000:.1f} ms" if index < len(ordered) else f"> {waited:g} s"

    missing = f", {expected - len(values)} not within {waited:g} s of the last send" if len(values) < expected else ""
    return f"p50 {pick(0.5)}, p95 {pick(0.95)}, p99 {pick(0.99)} (n={expected}{missing})"


def latency(settings: Settings, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Produce → alert and produce → PostgreSQL row latencies at ``rate`` messages/s.

    Each message is a `stage.change` for a deal that does not exist, which the gate refuses at
    once with a `gate.rejected` alert caused by that message. The producing loop only produces;
    two watcher threads note when each alert arrives on the alert topic and when its row is in
    PostgreSQL, so the bench's own collecting never delays a message it measures.
    """
    sent: dict[str, float] = {}
    alert_ids: dict[str, str] = {}
    """The id of the alert each sent message causes (ids are deterministic), filled before ``sent``."""
    to_alert: dict[str, float] = {}
    to_row: dict[str, float] = {}
    stop = threading.Event()
    ready = threading.Event()
    watchers = [threading.Thread(target=_watch_alerts, args=(settings, sent, to_alert, stop, ready), daemon=True),
                threading.Thread(target=_watch_rows, args=(settings.database_url, sent, alert_ids, to_row, stop),
                                 daemon=True)]
    for watcher in watchers:
        watcher.start()
    ready.wait(30)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1, linger_ms=PRODUCER_LINGER_MS)
    count = int(rate * seconds)
    started = time.perf_counter()
    for i in range(count):
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        event_id, deal_id = f"lat-{uuid.uuid4().hex}", f"lat-{i}"
        message = {"event_id": event_id, "type": "stage.change", "deal_id": deal_id, "to_stage": "proposal",
                   "requested_by": "bench", "occurred_at": datetime.now(timezone.utc).isoformat()}
        alert_ids[event_id] = message_alert_id(deal_id, "gate.rejected", event_id)
        sent[event_id] = time.time()
        producer.send(settings.topics.commands, key=deal_id.encode(), value=json.dumps(message).encode())
    producer.flush()
    deadline = time.perf_counter() + LATENCY_WAIT
    while (len(to_alert) < count or len(to_row) < count) and time.perf_counter() < deadline:
        time.sleep(0.1)
    stop.set()
    for watcher in watchers:
        watcher.join(10)
    producer.close()
    return list(to_alert.values()), list(to_row.values())


def _watch_alerts(settings: Settings, sent: dict[str, float], seen: dict[str, float], stop: threading.Event,
                  ready: threading.Event) -> None:
    """Note the arrival of each alert caused by a message in ``sent``, until ``stop``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    partitions = [TopicPartition(settings.topics.alerts, p)
                  for p in (consumer.partitions_for_topic(settings.topics.alerts) or set())]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)  # resolve the end now, before anything is produced
    ready.set()
    try:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                arrived = time.time()
                for record in records:
                    caused_by = json.loads(record.value).get("caused_by")
                    if caused_by in sent:
                        seen[caused_by] = arrived - sent[caused_by]
    finally:
        consumer.close()


def _watch_rows(database_url: str, sent: dict[str, float], alert_ids: dict[str, str], seen: dict[str, float],
                stop: threading.Event, interval: float = 0.02) -> None:
    """Note when the alert row caused by each message in ``sent`` is in PostgreSQL, until ``stop``.

    Rows are looked up by ``alert_id``, the table's primary key: a lookup by ``caused_by``
    (not indexed) scanned the whole table every 20 ms, and that load on the shared database
    slowed the projector being measured.
    """
    waiting: deque[str] = deque()
    known = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            ids = list(sent)  # the producing thread only appends
            waiting.extend(ids[known:])
            known = len(ids)
            batch = [waiting.popleft() for _ in range(min(len(waiting), 2000))]
            if batch:
                wanted = {alert_ids[event_id]: event_id for event_id in batch}
                rows = conn.execute("SELECT alert_id FROM alerts WHERE alert_id = ANY(%s)", (list(wanted),)).fetchall()
                now = time.time()
                found = {wanted[alert_id] for (alert_id,) in rows}
                for event_id in found:
                    seen[event_id] = now - sent[event_id]
                waiting.extendleft(reversed([event_id for event_id in batch if event_id not in found]))
            time.sleep(interval)
