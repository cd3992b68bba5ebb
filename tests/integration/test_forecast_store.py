"""Forecast snapshots on the real PostgreSQL (migration 0006, ``projections/forecast_rows.py``): saving is
idempotent per ``as_of``, ``forecast_latest`` has the newest line of each period and scope, and
``forecast_vs_actual`` sets each snapshot beside the amount won in its period, from deals projected from
facts by the projector's writer. The README's samples are these outputs.

Won (deal.won) and lost, 2026 quarters:

  w0 rep-ana  5 000 won 2026-01-01 00:00:00  Q1 (its first moment)
  w1 rep-ana 10 000 won 2026-02-10 09:00     Q1
  w2 rep-bo  20 000 won 2026-03-31 23:59:59  Q1 (its last second): Q1 won 35 000 in 3 deals
  w3 rep-bo   8 000 won 2025-12-31 23:59:59  2025-Q4: no snapshot has it
  l1 rep-bo  15 000 lost 2026-03-01          not won
  nothing won in Q2

Snapshots: EARLY (2026-01-20 12:00, week 2 of Q1) with lines for Q1 and Q2 for everyone, team emea and owner
rep-ana, and two open deals; LATE (2026-02-17 12:00, week 6) with lines for everyone in Q1 and Q2 and team emea
in Q1, and one deal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import psycopg
import pytest

from processors.config import Settings
from processors.forecast.results import DealForecast, Factor, Forecast, ForecastLine
from projections.forecast_rows import forecast_history, save_forecast
from projections.migrate import MIGRATIONS_DIR
from projections.projector import PROJECTION_TABLES
from schemas.facts import DealCreated, DealLost, DealWon
from tests.integration.manager_support import Record, wire
from tests.integration.support import fresh_database, query_rows, write_records

MIGRATION = MIGRATIONS_DIR / "0006_forecast.sql"
EARLY = datetime(2026, 1, 20, 12, tzinfo=timezone.utc)
LATE = datetime(2026, 2, 17, 12, tzinfo=timezone.utc)
UTC = timezone.utc


def closed(deal_id: str, owner: str, amount: int, at: datetime, won: bool = True) -> list[Record]:
    """A deal created in closing 10 days before ``at`` and won (or lost) at ``at``."""
    created = at - timedelta(days=10)
    outcome = (DealWon(event_id=f"won-{deal_id}", deal_id=deal_id, occurred_at=at, caused_by=f"cmd-{deal_id}",
                       from_stage="closing", to_stage="won", days_in_from_stage=10) if won else
               DealLost(event_id=f"lost-{deal_id}", deal_id=deal_id, occurred_at=at, caused_by=f"cmd-{deal_id}",
                        from_stage="closing", to_stage="lost", days_in_from_stage=10, reason="price"))
    return [wire("fact", DealCreated(event_id=f"c-{deal_id}", deal_id=deal_id, occurred_at=created, caused_by=None,
                                     name=deal_id.upper(), owner_id=owner, amount=amount, currency="USD",
                                     close_date=at.date(), stage="closing", imported=True)),
            wire("fact", outcome)]


RECORDS = [*closed("w0", "rep-ana", 5000, datetime(2026, 1, 1, tzinfo=UTC)),
           *closed("w1", "rep-ana", 10000, datetime(2026, 2, 10, 9, tzinfo=UTC)),
           *closed("w2", "rep-bo", 20000, datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)),
           *closed("w3", "rep-bo", 8000, datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
           *closed("l1", "rep-bo", 15000, datetime(2026, 3, 1, 9, tzinfo=UTC), won=False)]


Amounts = tuple[float, float, float, float, float, float]


def line(period: str, team: str | None, owner: str | None, amounts: Amounts, open_deals: int) -> ForecastLine:
    """``amounts``: won_to_date, expected, baseline, commit, best_case, pipeline."""
    won_to_date, expected, baseline, commit, best_case, pipeline = amounts
    return ForecastLine(period, team, owner, won_to_date, expected, baseline, commit, best_case, pipeline, open_deals)


O1 = DealForecast("o1", "rep-ana", "emea", "negotiation", 12000, date(2026, 3, 15), "2026-Q1", 0.82, 0.55, "commit",
                  (Factor("buyer_responsive", "The buyer answered within 2 days", 0.9),
                   Factor("close_date_slipped", "The close date moved once", -0.35)))
O2 = DealForecast("o2", "rep-bo", "apac", "proposal", 30000, date(2026, 5, 10), "2026-Q2", 0.25, 0.3, "pipeline",
                  (Factor("no_economic_buyer", "No economic buyer engaged", -0.6),))
EARLY_FORECAST = Forecast(EARLY, "quarter", "evidence", 42, (
    line("2026-Q1", None, None, (5000, 30000, 42000, 12000, 18000, 20000), 4),
    line("2026-Q1", "emea", None, (5000, 18000, 20000, 12000, 0, 5000), 2),
    line("2026-Q1", "emea", "rep-ana", (5000, 14000.126, 16000, 12000, 0, 0), 1),
    line("2026-Q2", None, None, (0, 9000, 12000, 0, 0, 30000), 2),
    line("2026-Q2", "emea", None, (0, 1500, 2000, 0, 0, 5000), 1),
    line("2026-Q2", "emea", "rep-ana", (0, 1500, 2000, 0, 0, 5000), 1),
), (O1, O2))
LATE_FORECAST = Forecast(LATE, "quarter", "evidence", 44, (
    line("2026-Q1", None, None, (15000, 33000, 39000, 12000, 6000, 0), 2),
    line("2026-Q1", "emea", None, (15000, 25000, 24000, 12000, 0, 0), 1),
    line("2026-Q2", None, None, (0, 7500, 9000, 0, 0, 30000), 1),
), (dataclasses.replace(O1, probability=0.9, factors=()),))


def counts(url: str) -> tuple[int, int]:
    [(lines, deals)] = query_rows(url, "SELECT (SELECT count(*) FROM forecast_snapshots), "
                                       "(SELECT count(*) FROM forecast_deals)")
    return lines, deals


@pytest.fixture(scope="module")
def url(base_settings: Settings) -> Iterator[str]:
    with fresh_database(base_settings) as database_url:
        write_records(database_url, RECORDS, by_batch=True, batch=4)
        yield database_url


def test_saving_the_same_moment_again_leaves_the_same_rows(url: str) -> None:
    assert save_forecast(url, EARLY_FORECAST) == 8
    stored = query_rows(url, "SELECT * FROM forecast_snapshots ORDER BY period, scope, team, owner_id")
    assert save_forecast(url, EARLY_FORECAST) == 8
    assert counts(url) == (6, 2)
    again = query_rows(url, "SELECT * FROM forecast_snapshots ORDER BY period, scope, team, owner_id")
    assert [row[:-1] for row in again] == [row[:-1] for row in stored]  # all but saved_at
    # The last forecast saved for a moment is its snapshot: lines and deals it no longer has go.
    fewer = dataclasses.replace(EARLY_FORECAST, lines=EARLY_FORECAST.lines[:2], deals=(O2,))
    assert save_forecast(url, fewer) == 3
    assert counts(url) == (2, 1)
    assert save_forecast(url, EARLY_FORECAST) == 8
    assert counts(url) == (6, 2)
    assert query_rows(url, """SELECT scope, team, owner_id, model, closed_deals, won_to_date, expected, baseline,
                                     commit, best_case, pipeline, open_deals
                              FROM forecast_snapshots WHERE period = '2026-Q1' ORDER BY scope""") == [
        ("all", None, None, "evidence", 42, D("5000.00"), D("30000.00"), D("42000.00"), D("12000.00"),
         D("18000.00"), D("20000.00"), 4),
        ("owner", "emea", "rep-ana", "evidence", 42, D("5000.00"), D("14000.13"), D("16000.00"), D("12000.00"),
         D("0.00"), D("0.00"), 1),
        ("team", "emea", None, "evidence", 42, D("5000.00"), D("18000.00"), D("20000.00"), D("12000.00"),
         D("0.00"), D("5000.00"), 2)]
    assert query_rows(url, "SELECT deal_id, period, owner_id, team, stage, amount, close_date, probability, "
                           "baseline_probability, category, factors FROM forecast_deals ORDER BY deal_id") == [
        ("o1", "2026-Q1", "rep-ana", "emea", "negotiation", D("12000.00"), date(2026, 3, 15), 0.82, 0.55, "commit",
         [{"name": "buyer_responsive", "description": "The buyer answered within 2 days", "effect": 0.9},
          {"name": "close_date_slipped", "description": "The close date moved once", "effect": -0.35}]),
        ("o2", "2026-Q2", "rep-bo", "apac", "proposal", D("30000.00"), date(2026, 5, 10), 0.25, 0.3, "pipeline",
         [{"name": "no_economic_buyer", "description": "No economic buyer engaged", "effect": -0.6}])]


def test_a_forecast_with_two_lines_for_one_scope_is_refused(url: str) -> None:
    twice = dataclasses.replace(EARLY_FORECAST, as_of=datetime(2026, 1, 1, tzinfo=UTC),
                                lines=(EARLY_FORECAST.lines[0], EARLY_FORECAST.lines[0]))
    with pytest.raises(ValueError, match="two lines"):
        save_forecast(url, twice)
    with pytest.raises(psycopg.errors.CheckViolation):  # a team line without a team is no team line
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO forecast_snapshots VALUES (now(), '2026-Q1', 'quarter', 'team', NULL, NULL, "
                         "'evidence', 0, 0, 0, 0, 0, 0, 0, 0)")


def test_the_latest_line_of_each_period_and_scope(url: str) -> None:
    save_forecast(url, EARLY_FORECAST)
    assert save_forecast(url, LATE_FORECAST) == 4
    assert counts(url) == (9, 3)
    assert query_rows(url, "SELECT period, scope, team, owner_id, as_of, expected FROM forecast_latest") == [
        ("2026-Q1", "all", None, None, LATE, D("33000.00")),
        ("2026-Q1", "team", "emea", None, LATE, D("25000.00")),
        ("2026-Q1", "owner", "emea", "rep-ana", EARLY, D("14000.13")),  # not in the late snapshot
        ("2026-Q2", "all", None, None, LATE, D("7500.00")),
        ("2026-Q2", "team", "emea", None, EARLY, D("1500.00")),
        ("2026-Q2", "owner", "emea", "rep-ana", EARLY, D("1500.00"))]


VS_ACTUAL = [
    # period, week, expected, baseline, actual, won deals, expected and baseline errors (%)
    ("2026-Q1", 2, D("30000.00"), D("42000.00"), D("35000.00"), 3, D("14.29"), D("20.00")),
    ("2026-Q1", 6, D("33000.00"), D("39000.00"), D("35000.00"), 3, D("5.71"), D("11.43")),
    ("2026-Q2", -11, D("9000.00"), D("12000.00"), D("0.00"), 0, None, None),  # taken 70.5 days before Q2
    ("2026-Q2", -7, D("7500.00"), D("9000.00"), D("0.00"), 0, None, None),
]


def test_each_snapshot_beside_what_was_won_in_its_period(url: str) -> None:
    save_forecast(url, EARLY_FORECAST)
    save_forecast(url, LATE_FORECAST)
    # w0 at Q1's first moment and w2 at its last second count; w3 (2025-Q4) and the lost l1 do not.
    sql = """SELECT period, week, expected, baseline, actual, won_deals, expected_error_pct, baseline_error_pct
             FROM forecast_vs_actual"""
    assert query_rows(url, sql) == VS_ACTUAL
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # periods are UTC whatever the session's time zone
        with psycopg.connect(url) as conn:
            conn.execute(f"SET TIME ZONE '{zone}'")
            assert conn.execute(sql).fetchall() == VS_ACTUAL, zone
    [first, *_] = forecast_history(url, "2026-Q1")
    assert first == {
        "period": "2026-Q1", "period_kind": "quarter", "period_start": datetime(2026, 1, 1, tzinfo=UTC),
        "period_end": datetime(2026, 4, 1, tzinfo=UTC), "as_of": EARLY, "week": 2, "model": "evidence",
        "won_to_date": D("5000.00"), "expected": D("30000.00"), "baseline": D("42000.00"), "actual": D("35000.00"),
        "won_deals": 3, "expected_error_pct": D("14.29"), "baseline_error_pct": D("20.00"), "period_over": True}
    assert [(row["period"], row["as_of"]) for row in forecast_history(url)] == [
        ("2026-Q1", EARLY), ("2026-Q1", LATE), ("2026-Q2", EARLY), ("2026-Q2", LATE)]
    assert forecast_history(url, "2026-Q3") == []
    with psycopg.connect(url) as conn:  # the migration runs again and changes nothing
        conn.execute(MIGRATION.read_text())
    assert query_rows(url, sql) == VS_ACTUAL and counts(url) == (9, 3)


def test_period_bounds_from_the_name(url: str) -> None:
    assert query_rows(url, "SELECT p, b.* FROM unnest(ARRAY['2027-Q4', '2027-03', '2027-13', 'Q1']) p, "
                           "forecast_period_bounds(p) b") == [
        ("2027-Q4", datetime(2027, 10, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)),
        ("2027-03", datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)),
        ("2027-13", None, None), ("Q1", None, None)]


def test_a_rebuild_leaves_the_snapshots_alone() -> None:
    """They are not projections of the log: `dealflow rebuild` empties PROJECTION_TABLES only."""
    assert not {"forecast_snapshots", "forecast_deals"} & set(PROJECTION_TABLES)
