"""The projector: reads facts and alerts from Kafka and writes them to PostgreSQL.

Exactly-once effects: each batch's rows and the next offset of every partition it read are
committed in one database transaction, under an advisory lock, and only if the batch starts
exactly at the stored offsets (otherwise the projector seeks back to them). On start, after a
database error and after `dealflow rebuild`, it resumes from the stored offsets. Kafka's own
consumer-group offsets are never used.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from pydantic_core import from_json

from projections.apply import BatchResult
from projections.batch_write import apply_batch
from projections.queries import OPEN_CONDITIONS_BY_TYPE
from schemas.playbook import Playbook

log = logging.getLogger("dealflow.projector")

LOCK_KEY = 748_221_904
"""Advisory lock held by every batch and by `dealflow rebuild`: one writer at a time."""

PROJECTION_TABLES = ("deals", "stage_history", "evidence", "alerts", "gate_rejections", "projected_facts",
                     "engagement", "stage_entries", "close_date_changes", "alert_changes", "alert_actions",
                     "blockers", "interventions")


FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 50
"""A fetch is answered once it has ``FETCH_MIN_BYTES`` of records, or after ``FETCH_MAX_WAIT_MS``
(kafka-python's defaults: 1 byte, 500 ms). With a byte, a trickle of outputs made a transaction of a
few rows every few milliseconds, and the projector, PostgreSQL and the broker took the cores the
worker needed; a row now waits up to 50 ms more, and a batch has about 50 ms of records."""

YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between young collections in a process that runs the projector (Python: 700), as in the
batch worker's: a batch's rows live until it is written, and the default has the collector walk them over
and over."""


def tune_collector() -> None:
    """Freeze what the process holds now (never collected) and collect the young generation less often."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


class OffsetMismatch(Exception):
    """A batch does not start at the stored offsets (another writer or a rebuild moved them)."""


def sync_stage_criteria(conn: psycopg.Connection[Any], playbook: Playbook) -> None:
    """Store the playbook's exit criteria and benchmark days per stage (used by the projection and views)."""
    with conn.transaction():
        conn.execute("DELETE FROM stage_criteria")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stage_criteria (stage, criterion, position) VALUES (%s, %s, %s)",
                [(s.name, c, i) for s in playbook.stages for i, c in enumerate(s.exit_criteria)],
            )
            cur.executemany(
                """INSERT INTO stage_benchmarks (stage, benchmark_days) VALUES (%s, %s)
                   ON CONFLICT (stage) DO UPDATE SET benchmark_days = EXCLUDED.benchmark_days""",
                [(s.name, s.benchmark_days) for s in playbook.stages],
            )


def apply_payloads(cur: psycopg.Cursor[Any], payloads: Iterable[tuple[str, dict[str, Any]]]) -> BatchResult:
    """Apply ("fact" | "alert", payload) pairs as one batch; refresh the criteria of touched deals.

    Facts applied before (same ``event_id``) are skipped. The batch is written set-based, a
    ``COPY`` or a statement per table (:func:`projections.batch_write.apply_batch`), with the rows
    that applying the pairs one by one, in order, would give.
    """
    return apply_batch(cur, payloads)


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
        observer: Any | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.events_topic = events_topic
        self.alerts_topic = alerts_topic
        self.playbook = playbook
        self.name = name
        self.batch_size = batch_size
        self.observer = observer
        self.client_options = client_options or {}
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

    def stored_offsets(self, cur: psycopg.Cursor[Any] | None = None) -> dict[tuple[str, int], int]:
        query = "SELECT topic, partition, next_offset FROM projector_offsets WHERE consumer = %s"
        source: Any = cur if cur is not None else self.conn
        assert source is not None
        rows = source.execute(query, (self.name,)).fetchall()
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
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            client_id=f"dealflow-{self.name}",
            **self.client_options,
        )
        self.consumer.assign(self._partitions(self.consumer))
        self._seek_to_stored()

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        if self.conn is not None:
            self.conn.close()
        self.consumer = self.conn = None

    # -- work ---------------------------------------------------------------------------
    def _check_start(self, cur: psycopg.Cursor[Any], records: list[Any]) -> dict[tuple[str, int], int]:
        stored = self.stored_offsets(cur)
        next_offsets: dict[tuple[str, int], int] = {}
        for record in records:
            tp = (record.topic, record.partition)
            if tp not in next_offsets and tp in stored and stored[tp] != record.offset:
                raise OffsetMismatch(f"{tp}: batch starts at {record.offset}, stored offset is {stored[tp]}")
            next_offsets[tp] = record.offset + 1
        return next_offsets

    def _decode(self, records: list[Any]) -> Iterable[tuple[str, dict[str, Any]]]:
        for record in records:
            try:
                payload = from_json(record.value)  # pydantic-core: twice as fast as json.loads here
            except (TypeError, ValueError):
                log.error("skipping undecodable record %s/%s@%s", record.topic, record.partition, record.offset)
                continue
            yield ("alert" if record.topic == self.alerts_topic else "fact"), payload

    def write_batch(self, records: list[Any]) -> BatchResult:
        """Apply records and store the next offsets, in one transaction."""
        assert self.conn is not None
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            next_offsets = self._check_start(cur, records)
            result = apply_payloads(cur, self._decode(records))
            cur.executemany(
                """INSERT INTO projector_offsets (consumer, topic, partition, next_offset, updated_at)
                   VALUES (%s, %s, %s, %s, now())
                   ON CONFLICT (consumer, topic, partition)
                   DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()""",
                [(self.name, topic, partition, offset) for (topic, partition), offset in next_offsets.items()],
            )
        return result

    def poll_once(self, timeout_ms: int = 500) -> BatchResult:
        """Poll one batch and write it (seeking back to the stored offsets if they moved)."""
        assert self.consumer is not None
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return BatchResult()
        started = time.monotonic()
        try:
            result = self.write_batch(records)
        except OffsetMismatch as exc:
            log.info("offsets moved (%s); resuming from the stored offsets", exc)
            self._seek_to_stored()
            return BatchResult()
        if self.observer is not None:
            self.observer.batch(records, time.monotonic() - started)
        return result

    def report(self) -> None:
        """Publish lag and pipeline figures to the observer (at its own pace)."""
        if self.observer is None or not self.observer.due():
            return
        assert self.conn is not None
        self.observer.lag(self.lag_by_partition())
        deals = self.conn.execute("SELECT stage, count(*) FROM deals WHERE status = 'open' GROUP BY stage").fetchall()
        alerts = self.conn.execute(OPEN_CONDITIONS_BY_TYPE).fetchall()
        self.observer.pipeline(dict(deals), dict(alerts))

    def lag_by_partition(self) -> dict[tuple[str, int], int]:
        """Records between the stored offsets and the end of each partition."""
        assert self.consumer is not None
        ends = self.consumer.end_offsets(list(self.consumer.assignment()))
        stored = self.stored_offsets()
        begins = self.consumer.beginning_offsets(list(ends))
        return {(tp.topic, tp.partition): end - stored.get((tp.topic, tp.partition), begins[tp])
                for tp, end in ends.items()}

    def run(self, stop: threading.Event) -> None:
        """Project until ``stop`` is set; on a database or Kafka error, back off and resume from stored offsets."""
        backoff, resync = 0.5, False
        while not stop.is_set():
            try:
                if self.consumer is None:
                    self.start()
                elif self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                    self._seek_to_stored()
                elif resync:
                    self._seek_to_stored()
                resync = False
                self.poll_once()
                self.report()
                backoff = 0.5
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                if self.conn is not None:
                    self.conn.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except KafkaError as exc:  # the broker is restarting or unreachable: the client reconnects
                log.warning("Kafka unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                resync = True
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.close()

    # -- rebuild ------------------------------------------------------------------------
    def reset(self) -> int:
        """Empty every projection table and point the offsets at the start of the log; return its size."""
        assert self.conn is not None and self.consumer is not None
        partitions = list(self.consumer.assignment())
        begins = self.consumer.beginning_offsets(partitions)
        ends = self.consumer.end_offsets(partitions)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            cur.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
            cur.execute("DELETE FROM projector_offsets WHERE consumer = %s", (self.name,))
            cur.executemany(
                "INSERT INTO projector_offsets (consumer, topic, partition, next_offset) VALUES (%s, %s, %s, %s)",
                [(self.name, tp.topic, tp.partition, begins[tp]) for tp in partitions],
            )
        self._seek_to_stored()
        return sum(ends[tp] - begins[tp] for tp in partitions)

    def catch_up(self, progress: Callable[[int], None] | None = None, idle_seconds: float = 5.0) -> int:
        """Project until the stored offsets reach the end offsets seen now; return records written."""
        assert self.consumer is not None
        ends = self.consumer.end_offsets(list(self.consumer.assignment()))
        written, idle_since = 0, time.monotonic()
        while True:
            stored = self.stored_offsets()
            if all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items()):
                return written
            result = self.poll_once()
            if result.records:
                written += result.records
                idle_since = time.monotonic()
                if progress is not None:
                    progress(written)
            elif time.monotonic() - idle_since > idle_seconds:
                raise RuntimeError("the projector stopped making progress before reaching the end of the log")
