"""Writing one batch of facts and alerts set-based: a statement or a ``COPY`` per table, not per fact.

A batch goes like this, in the caller's transaction (under the projector's advisory lock, so
nothing else writes meanwhile and what it reads stays current):

1. the facts not applied before (first occurrence of each ``event_id`` not in ``projected_facts``)
   are looked up, and the stored columns of the deals they name are read;
2. they are copied into ``projected_facts`` and, while PostgreSQL takes that ``COPY``, the batch
   is folded in order into the rows it writes (:mod:`projections.batch_rows`);
3. invalidations reach the evidence stored before the batch;
4. the rows of the insert-only tables are copied straight in (one ``COPY`` per table, in a
   savepoint, the largest last: the parameters of step 5 are made while PostgreSQL takes it); if one
   of them is there already the savepoint is rolled back and they go in one by one with
   ``ON CONFLICT DO NOTHING`` instead;
5. one pipelined burst of set-based statements, each row set an array parameter per column: the
   batch's own evidence that a later invalidation reaches is marked invalid, the alerts are
   upserted (one row per ``alert_id``, an older record never overwriting a newer one) and their
   records added to ``alert_changes``, the blockers upserted (one row per blocker, its identification
   and resolution merged whatever their order), the stored deals updated and the new ones inserted (the
   greatest of their activity moments, the exit criteria of their stage).

The rows equal what :func:`projections.apply.apply_one_by_one` writes fact by fact (tested), and
applying a batch again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import Cursor
from psycopg.pq import TransactionStatus

from projections.alert_rows import ALERT_COLUMNS
from projections.apply import BatchResult
from projections.batch_rows import DEAL_STATE, BatchRows, Row, fold_batch
from projections.batch_sql import (
    ALERTS,
    BLOCKERS,
    CHANGES,
    DEALS,
    INSERT_CHANGES,
    INSERT_DEALS,
    INSERT_ONLY,
    INVALIDATE_LATE,
    INVALIDATE_STORED,
    INVALIDATIONS,
    KNOWN_FACTS,
    LATE_INVALIDATIONS,
    MOMENTS,
    UPDATE_DEALS,
    UPSERT_ALERTS,
    UPSERT_BLOCKERS,
    insert_if_new,
)
from projections.manager_rows import BLOCKER_COLUMNS

T = TypeVar("T")
Statement = tuple[str, list[list[Any]]]

STORED_DEALS = f"SELECT deal_id, {', '.join(DEAL_STATE)} FROM deals WHERE deal_id = ANY(%s)"


def copy_rows(cur: Cursor[Any], table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` with ``rows`` (nothing when there are none)."""
    copy_rows_while(cur, table, columns, rows, lambda: None)


def copy_rows_while(cur: Cursor[Any], table: str, columns: str, rows: Iterable[Sequence[Any]],
                    meanwhile: Callable[[], T]) -> T:
    """:func:`copy_rows`, running ``meanwhile`` (pure Python) once the rows are sent, while PostgreSQL
    still takes them, rather than after; returns its result."""
    rows = list(rows)
    if not rows:
        return meanwhile()
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
        return meanwhile()


def new_facts(cur: Cursor[Any], facts: list[Row]) -> list[Row]:
    """The facts of a batch not applied before (first occurrence of each ``event_id``)."""
    first: dict[Any, Row] = {}
    for fact in facts:
        first.setdefault(fact["event_id"], fact)
    if not first:
        return []
    known = {row[0] for row in cur.execute(KNOWN_FACTS, (list(first),)).fetchall()}
    return [fact for event_id, fact in first.items() if event_id not in known]


def stored_deals(cur: Cursor[Any], deal_ids: list[str]) -> dict[str, Row]:
    """The stored columns (``DEAL_STATE``) of the deals that exist among ``deal_ids``."""
    if not deal_ids:
        return {}
    rows = cur.execute(STORED_DEALS, (deal_ids,)).fetchall()
    return {row[0]: dict(zip(DEAL_STATE, row[1:], strict=True)) for row in rows}


def _insert_only(cur: Cursor[Any], rows: BatchRows, meanwhile: Callable[[], T]) -> T:
    tables = sorted(((table, columns, getattr(rows, table)) for table, columns in INSERT_ONLY.items()),
                    key=lambda table: len(table[2]))  # the largest last, ``meanwhile`` beside it
    try:
        with cur.connection.transaction():  # a savepoint
            for table, columns, table_rows in tables[:-1]:
                copy_rows(cur, table, columns, table_rows)
            return copy_rows_while(cur, *tables[-1], meanwhile)
    except psycopg.errors.UniqueViolation:  # a row without its projected_facts entry: keep the stored one
        with cur.connection.pipeline():
            for table, _, table_rows in tables:
                if table_rows:
                    cur.executemany(insert_if_new(table), table_rows)
        return meanwhile()


def _deal_rows(deals: dict[str, Row]) -> list[tuple[Any, ...]]:
    rows = []
    for deal_id, deal in deals.items():
        amount = deal["amount"]
        as_float = isinstance(amount, float)
        rows.append((deal_id, deal["name"], deal["owner_id"], amount if as_float else None,
                     None if as_float else amount, *(deal[name] for name in DEAL_STATE[3:])))
    return rows


def _deals(statement: str, deals: dict[str, Row], moments: set[tuple[str, Any, bool]]) -> list[Statement]:
    if not deals:
        return []
    return [(statement, DEALS.params(_deal_rows(deals))
             + MOMENTS.params([moment for moment in moments if moment[0] in deals]))]


def _pipelined(rows: BatchRows, stored: set[str]) -> list[Statement]:
    """The statements of step 5 with their parameters, in order."""
    statements: list[Statement] = []
    if rows.late_invalidations:
        statements.append((INVALIDATE_LATE, LATE_INVALIDATIONS.params(rows.late_invalidations)))
    if rows.alerts:
        statements += [(UPSERT_ALERTS, ALERTS.params([tuple(alert[name] for name in ALERT_COLUMNS)
                                                      for alert in rows.alerts.values()])),
                       (INSERT_CHANGES, CHANGES.params(list(rows.alert_changes.values())))]
    if rows.blockers:
        statements.append((UPSERT_BLOCKERS, BLOCKERS.params([tuple(row[name] for name in BLOCKER_COLUMNS)
                                                             for row in rows.blockers.values()])))
    statements += _deals(UPDATE_DEALS, {key: deal for key, deal in rows.deals.items() if key in stored}, rows.moments)
    statements += _deals(INSERT_DEALS, {key: deal for key, deal in rows.deals.items() if key not in stored},
                         rows.moments)
    return statements


def write_rows(cur: Cursor[Any], rows: BatchRows, stored: set[str]) -> None:
    """Write the folded rows (steps 3 to 5 of the module's description); ``stored``: the deals stored before.

    The parameters of step 5 are made while PostgreSQL takes the largest ``COPY`` of step 4.
    """
    if rows.invalidations:
        cur.execute(INVALIDATE_STORED, INVALIDATIONS.params(rows.invalidations))
    statements = _insert_only(cur, rows, lambda: _pipelined(rows, stored))
    with cur.connection.pipeline():
        for statement, params in statements:
            cur.execute(statement, params)


def apply_batch(cur: Cursor[Any], payloads: Iterable[tuple[str, Row]]) -> BatchResult:
    """Apply ("fact" | "alert", payload) pairs as one set-based batch, criteria of touched deals included.

    Facts applied before (same ``event_id``) are skipped; the result equals applying the pairs
    one by one, in order. Runs in the caller's transaction (or its own, on an autocommit
    connection outside one, so a batch is never half written).
    """
    items = list(payloads)
    conn = cur.connection
    if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        with conn.transaction():
            return apply_batch(cur, items)
    fresh = new_facts(cur, [payload for kind, payload in items if kind == "fact"])
    fresh_ids = {id(fact) for fact in fresh}
    deals = stored_deals(cur, sorted({fact["deal_id"] for fact in fresh}))
    stored = set(deals)
    rows = copy_rows_while(cur, "projected_facts", "event_id, deal_id, type, occurred_at",
                           ((f["event_id"], f["deal_id"], f["type"], f["occurred_at"]) for f in fresh),
                           lambda: fold_batch(items, fresh_ids, deals))  # folded while PostgreSQL copies
    write_rows(cur, rows, stored)
    return BatchResult(records=len(items),
                       facts_applied=sum(1 for kind, p in items if kind != "alert" and id(p) in fresh_ids),
                       alerts_applied=sum(1 for kind, _ in items if kind == "alert"))
