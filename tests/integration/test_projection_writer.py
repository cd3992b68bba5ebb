"""The set-based batch writer (projections.batch_write) against the one-by-one writer
(projections.apply.apply_one_by_one) on a real PostgreSQL: the same rows from the same records,
in any batching, again after a replay, and when a table holds a row its fact was not recorded for.
Needs only PostgreSQL (the session fixtures check Kafka too)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
import pytest

from processors.config import Settings
from processors.playbooks.loader import default_playbook
from projections.apply import BatchResult, apply_one_by_one
from projections.batch_write import apply_batch
from projections.projector import sync_stage_criteria
from tests.integration.support import fresh_database, sample_backtest_outputs, snapshot

Records = list[tuple[str, dict[str, Any]]]
Writer = Callable[[psycopg.Cursor[Any], Iterable[tuple[str, dict[str, Any]]]], BatchResult]
RUNS = 40  # copies of the sample stream: about 2,200 facts and alerts


@pytest.fixture(scope="module")
def records() -> Records:
    return sample_backtest_outputs(RUNS)


@pytest.fixture()
def two_databases(base_settings: Settings) -> Iterator[tuple[str, str]]:
    with fresh_database(base_settings) as one, fresh_database(base_settings) as other:
        yield one, other


def project(url: str, records: Records, writer: Writer, batch: int, start: int = 0) -> int:
    """Write ``records`` in transactions of ``batch`` from ``start``; return the facts applied."""
    applied = 0
    with psycopg.connect(url, autocommit=True) as conn:
        sync_stage_criteria(conn, default_playbook())
        for first in range(start, len(records), batch):
            with conn.transaction(), conn.cursor() as cur:
                applied += writer(cur, records[first:first + batch]).facts_applied
    return applied


@pytest.mark.parametrize("batch", [1000, 37])
def test_the_batch_writer_writes_the_rows_of_the_one_by_one_writer(
        records: Records, two_databases: tuple[str, str], batch: int) -> None:
    by_batch, one_by_one = two_databases
    facts = sum(1 for kind, _ in records if kind == "fact")
    assert project(by_batch, records, apply_batch, batch) == facts
    assert project(one_by_one, records, apply_one_by_one, batch) == facts
    rows = snapshot(by_batch)
    assert rows == snapshot(one_by_one)
    assert all(rows[table] for table in ("deals", "stage_history", "evidence", "alerts", "engagement"))


def test_a_replayed_or_overlapping_batch_changes_nothing(records: Records, two_databases: tuple[str, str]) -> None:
    url, _ = two_databases
    project(url, records, apply_batch, 500)
    before = snapshot(url)
    assert project(url, records, apply_batch, 500) == 0  # every batch again
    assert project(url, records, apply_batch, 500, start=250) == 0  # batches that straddle the earlier ones
    assert project(url, records + records[:300], apply_batch, len(records) + 300) == 0  # duplicates in one batch
    assert snapshot(url) == before


def test_a_row_already_there_without_its_fact_recorded_is_kept_as_by_the_one_by_one_writer(
        records: Records, two_databases: tuple[str, str]) -> None:
    """The insert-only tables then go in row by row (``ON CONFLICT DO NOTHING``) instead of by COPY."""
    by_batch, one_by_one = two_databases
    for url, writer in ((by_batch, apply_batch), (one_by_one, apply_one_by_one)):
        project(url, records, writer, 1000)
        with psycopg.connect(url) as conn:  # forget the first facts, keep their rows (changed, to tell them apart)
            conn.execute("UPDATE engagement SET contact_id = 'kept' WHERE event_id IN "
                         "(SELECT event_id FROM projected_facts ORDER BY event_id LIMIT 40)")
            conn.execute("DELETE FROM projected_facts WHERE event_id IN "
                         "(SELECT event_id FROM projected_facts ORDER BY event_id LIMIT 40)")
        assert project(url, records, writer, 1000) == 40
    rows = snapshot(by_batch)
    assert rows == snapshot(one_by_one)
    assert any(row[3] == "kept" for row in rows["engagement"])
