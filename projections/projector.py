"""The projector: reads facts and alerts from Kafka and writes them to PostgreSQL.

Exactly-once effects: each batch's rows and the next offset of every partition it read are
committed in one database transaction; on start (and after a database error) the projector
seeks to the stored offsets. Kafka's own consumer-group offsets are never used.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition

from projections.apply import apply_alert, apply_fact, refresh_criteria
from schemas.playbook import Playbook

log = logging.getLogger("dealflow.projector")


@dataclass
class BatchResult:
    records: int
    facts_applied: int
    alerts_applied: int


def sync_stage_criteria(conn: psycopg.Connection[Any], playbook: Playbook) -> None:
    """Store the playbook's exit criteria per stage (used for satisfied/missing criteria)."""
    with conn.transaction():
        conn.execute("DELETE FROM stage_criteria")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stage_criteria (stage, criterion, position) VALUES (%s, %s, %s)",
                [(s.name, c, i) for s in playbook.stages for i, c in enumerate(s.exit_criteria)],
            )


class Projector:
    """Consumes ``events_topic`` and ``alerts_topic`` into PostgreSQL, in batches."""

    def __init__(
        self,
        bootstrap: str,
        database_url: str,
        events_topic: str,
        alerts_topic: str,
        playbook: Playbook,
        *,
        name: str = "projector",
        batch_size: int = 1000,
    ) -> None:
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.events_topic = events_topic
        self.alerts_topic = alerts_topic
        self.playbook = playbook
        self.name = name
        self.batch_size = batch_size
        self.conn: psycopg.Connection[Any] | None = None
        self.consumer: KafkaConsumer | None = None

    # -- setup --------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.database_url, autocommit=True)
        sync_stage_criteria(conn, self.playbook)
        return conn

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        found: list[TopicPartition] = []
        for topic in (self.events_topic, self.alerts_topic):
            deadline = time.monotonic() + 30
            partitions = consumer.partitions_for_topic(topic)
            while not partitions and time.monotonic() < deadline:
                time.sleep(0.5)
                partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise RuntimeError(f"topic {topic!r} does not exist (run `dealflow stack up` or `dealflow topics`)")
            found += [TopicPartition(topic, p) for p in sorted(partitions)]
        return found

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        assert self.conn is not None
        rows = self.conn.execute(
            "SELECT topic, partition, next_offset FROM projector_offsets WHERE consumer = %s", (self.name,)
        ).fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def _seek_to_stored(self) -> None:
        assert self.consumer is not None
        stored = self.stored_offsets()
        for tp in self.consumer.assignment():
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    def start(self) -> None:
        """Connect to PostgreSQL and Kafka and position at the stored offsets."""
        self.conn = self._connect()
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            client_id=f"dealflow-{self.name}",
        )
        self.consumer.assign(self._partitions(self.consumer))
        self._seek_to_stored()

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        if self.conn is not None:
            self.conn.close()

    # -- work ---------------------------------------------------------------------------
    def write_batch(self, records: Iterable[Any]) -> BatchResult:
        """Apply records and store the next offsets, in one transaction."""
        assert self.conn is not None
        result = BatchResult(0, 0, 0)
        next_offsets: dict[tuple[str, int], int] = {}
        touched: set[str] = set()
        with self.conn.transaction(), self.conn.cursor() as cur:
            for record in records:
                result.records += 1
                next_offsets[(record.topic, record.partition)] = record.offset + 1
                try:
                    payload = json.loads(record.value)
                except (TypeError, ValueError):
                    log.error("skipping undecodable record %s/%s@%s", record.topic, record.partition, record.offset)
                    continue
                if record.topic == self.alerts_topic:
                    apply_alert(cur, payload)
                    result.alerts_applied += 1
                elif apply_fact(cur, payload):
                    result.facts_applied += 1
                    touched.add(payload["deal_id"])
            refresh_criteria(cur, sorted(touched))
            cur.executemany(
                """INSERT INTO projector_offsets (consumer, topic, partition, next_offset, updated_at)
                   VALUES (%s, %s, %s, %s, now())
                   ON CONFLICT (consumer, topic, partition)
                   DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()""",
                [(self.name, topic, partition, offset) for (topic, partition), offset in next_offsets.items()],
            )
        return result

    def poll_once(self, timeout_ms: int = 500) -> BatchResult:
        """Poll one batch and write it."""
        assert self.consumer is not None
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return BatchResult(0, 0, 0)
        return self.write_batch(records)

    def run(self, stop: threading.Event) -> None:
        """Project until ``stop`` is set; on a database error, back off and resume from stored offsets."""
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.conn is None or self.consumer is None:
                    self.start()
                elif self.conn.closed:
                    self.conn = self._connect()
                    self._seek_to_stored()
                self.poll_once()
                backoff = 0.5
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                if self.conn is not None:
                    self.conn.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.close()
