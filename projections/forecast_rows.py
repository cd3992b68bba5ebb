"""Forecast snapshots in PostgreSQL (migration 0006): :func:`save_forecast` writes one, :func:`forecast_history`
reads each snapshot against what was won (``forecast_vs_actual``).

A snapshot is keyed by its ``as_of``: saving a forecast for the same moment again upserts its lines and deals
and removes those the new one no longer has, so the stored snapshot is the last one saved, whatever came before.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from processors.forecast.results import DealForecast, Forecast, ForecastLine
from projections.queries import Row, _fetch

LINE_COLUMNS = ("as_of", "period", "period_kind", "scope", "team", "owner_id", "model", "closed_deals",
                "won_to_date", "expected", "baseline", "commit", "best_case", "pipeline", "open_deals")
DEAL_COLUMNS = ("as_of", "deal_id", "period", "owner_id", "team", "stage", "amount", "close_date", "probability",
                "baseline_probability", "category", "factors")
LINE_KEY = "as_of, period, scope, coalesce(team, ''), coalesce(owner_id, '')"
"""The unique index ``forecast_snapshots_key``: one line per moment, period and scope."""


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"


def _from_excluded(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{name} = EXCLUDED.{name}" for name in columns)


UPSERT_LINE = (f"{_insert('forecast_snapshots', LINE_COLUMNS)} ON CONFLICT ({LINE_KEY}) "
               f"DO UPDATE SET {_from_excluded(LINE_COLUMNS[6:])}, saved_at = now()")
UPSERT_DEAL = (f"{_insert('forecast_deals', DEAL_COLUMNS)} ON CONFLICT (as_of, deal_id) "
               f"DO UPDATE SET {_from_excluded(DEAL_COLUMNS[2:])}")
PRUNE_LINES = """DELETE FROM forecast_snapshots
                 WHERE as_of = %s AND (period, scope, coalesce(team, ''), coalesce(owner_id, '')) NOT IN (
                     SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]))"""
PRUNE_DEALS = "DELETE FROM forecast_deals WHERE as_of = %s AND deal_id <> ALL(%s::text[])"


def scope_of(line: ForecastLine) -> str:
    """``owner`` (an owner's line, which may name the team too), ``team``, or ``all`` (everyone)."""
    if line.owner_id is not None:
        return "owner"
    return "all" if line.team is None else "team"


def line_row(forecast: Forecast, line: ForecastLine) -> tuple[Any, ...]:
    """One ``forecast_snapshots`` row, in :data:`LINE_COLUMNS` order."""
    return (forecast.as_of, line.period, forecast.period_kind, scope_of(line), line.team, line.owner_id,
            forecast.model, forecast.closed_deals, line.won_to_date, line.expected, line.baseline, line.commit,
            line.best_case, line.pipeline, line.open_deals)


def deal_row(forecast: Forecast, deal: DealForecast) -> tuple[Any, ...]:
    """One ``forecast_deals`` row, in :data:`DEAL_COLUMNS` order (factors as a jsonb list)."""
    factors = [{"name": f.name, "description": f.description, "effect": f.effect} for f in deal.factors]
    return (forecast.as_of, deal.deal_id, deal.period, deal.owner_id, deal.team, deal.stage, deal.amount,
            deal.close_date, deal.probability, deal.baseline_probability, deal.category, Jsonb(factors))


def _line_keys(forecast: Forecast) -> list[tuple[str, str, str, str]]:
    keys = [(line.period, scope_of(line), line.team or "", line.owner_id or "") for line in forecast.lines]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the forecast as of {forecast.as_of.isoformat()} has two lines for one period and scope")
    return keys


def save_forecast(database_url: str, forecast: Forecast) -> int:
    """Write ``forecast`` as the snapshot of its ``as_of`` in one transaction; return the rows written (its lines
    and deals). Saving the same ``as_of`` again leaves the same rows: the last forecast saved for it."""
    if forecast.as_of.tzinfo is None:
        raise ValueError("a forecast's as_of must be timezone-aware")
    columns = [list(column) for column in zip(*_line_keys(forecast), strict=True)] or [[], [], [], []]
    deal_ids = [deal.deal_id for deal in forecast.deals]
    if len(set(deal_ids)) != len(deal_ids):
        raise ValueError(f"the forecast as of {forecast.as_of.isoformat()} counts a deal twice")
    lines = [line_row(forecast, line) for line in forecast.lines]
    deals = [deal_row(forecast, deal) for deal in forecast.deals]
    with psycopg.connect(database_url) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(PRUNE_LINES, (forecast.as_of, *columns))
        cur.execute(PRUNE_DEALS, (forecast.as_of, deal_ids))
        if lines:
            cur.executemany(UPSERT_LINE, lines)
        if deals:
            cur.executemany(UPSERT_DEAL, deals)
    return len(lines) + len(deals)


def forecast_history(database_url: str, period: str | None = None) -> list[Row]:
    """The rows of ``forecast_vs_actual`` (each snapshot's forecast for everyone beside the amount won), of one
    period or of all, by period and moment."""
    return _fetch(database_url, """
        SELECT period, period_kind, period_start, period_end, as_of, week, model, won_to_date, expected, baseline,
               actual, won_deals, expected_error_pct, baseline_error_pct, period_over
        FROM forecast_vs_actual
        WHERE %(period)s::text IS NULL OR period = %(period)s
        ORDER BY period_start NULLS LAST, period, as_of""", {"period": period})
