"""The analytics migration (0003) as a whole, against the real PostgreSQL: every view exists with a
comment, the benchmarks are seeded, the migration can run again without changing anything, no view
depends on the session's time zone, and the views behave on empty and sparse data.

The fixture of eight deals is described in :mod:`tests.integration.analytics_support`.
"""

from __future__ import annotations

from decimal import Decimal as D

import psycopg

from processors.config import Settings
from projections.migrate import migration_files
from tests.integration import analytics_support
from tests.integration.analytics_support import MIGRATION, TODAY, VIEWS, ago, at, insert, rows
from tests.integration.support import isolated

# The module-scoped fixture of analytics_support, under the name the tests ask for (a fixture is found by its
# name in the test module; each test module gets its own database with the fixture loaded).
url = analytics_support.url


def start_clock() -> None:
    """Start the fixture clock again and take its ``TODAY`` into this module (an imported name keeps its value)."""
    global TODAY
    analytics_support.start_clock()
    TODAY = analytics_support.TODAY


# --------------------------------------------------------------------------------------------
# The migration itself
# --------------------------------------------------------------------------------------------

def test_every_view_exists_with_a_comment_and_the_benchmarks_are_seeded(url: str) -> None:
    comments = dict(rows(url, """SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
                                 WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace"""))
    assert set(comments) == set(VIEWS)
    assert all(comments[v] and len(comments[v]) > 30 for v in VIEWS), comments
    [(function_comment,)] = rows(url, "SELECT obj_description('review_quarterly_sample'::regproc, 'pg_proc')")
    assert "reproducible" in function_comment
    [(volatility,)] = rows(url, "SELECT provolatile FROM pg_proc WHERE proname = 'review_quarterly_sample'")
    assert volatility == "s"  # STABLE
    assert rows(url, "SELECT stage, benchmark_days FROM stage_benchmarks ORDER BY benchmark_days") == [
        ("discovery", 7), ("closing", 10), ("qualification", 14), ("proposal", 21), ("negotiation", 28)]


def test_the_migration_can_run_again_without_changing_anything(url: str) -> None:
    """0003 again, and the migrations after it that replace its views (0004: open conditions only)."""
    before = {view: rows(url, f"SELECT * FROM {view}") for view in VIEWS if not view.startswith("review_")}
    with psycopg.connect(url) as conn:
        for path in (path for path in migration_files() if path.name >= MIGRATION.name):
            conn.execute(path.read_text())  # type: ignore[arg-type]
    after = {view: rows(url, f"SELECT * FROM {view}") for view in before}
    assert after == before
    assert rows(url, "SELECT count(*) FROM stage_benchmarks") == [(5,)]
    assert rows(url, "SELECT count(*) FROM schema_migrations WHERE version = '0003_analytics'") == [(1,)]


def test_no_view_depends_on_the_session_time_zone(url: str) -> None:
    """Weeks and "today" are UTC: a session at UTC+14 or UTC-12 sees the same figures (one of the two is
    always on another calendar day than UTC, and Monday 09:00 UTC is Sunday at UTC-12)."""
    queries = [f"SELECT * FROM {view}" for view in VIEWS] + ["SELECT * FROM review_quarterly_sample(42, 3)"]
    in_utc = [rows(url, sql) for sql in queries]
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # POSIX signs: UTC+14 and UTC-12
        with psycopg.connect(url) as conn:
            conn.execute(f"SET TIME ZONE '{zone}'")  # type: ignore[arg-type]
            assert [conn.execute(sql).fetchall() for sql in queries] == in_utc, zone  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Sparse data: empty tables, missing stage entries, no stays yet
# --------------------------------------------------------------------------------------------

def test_views_on_empty_and_sparse_data(base_settings: Settings) -> None:
    with isolated(base_settings) as settings:
        start_clock()
        url = settings.database_url
        for view in VIEWS:
            if view not in ("pipeline_velocity", "close_date_slip_summary"):
                assert rows(url, f"SELECT * FROM {view}") == [], view
        assert rows(url, "SELECT * FROM pipeline_velocity") == [(0, None, None, None, None)]
        assert rows(url, "SELECT * FROM close_date_slip_summary") == [(0, 0, None, D("0"))]
        assert rows(url, "SELECT * FROM review_quarterly_sample(1, 3)") == []

        with psycopg.connect(url) as conn:
            insert(conn, "deals", "deal_id, name, owner_id, amount, stage, status, stage_entered_at, close_date, "
                   "created_at, updated_at", [
                       # qualification for 15 days: over the 14-day benchmark (no qualification stay yet)
                       ("q1", "Q", "rep-ana", 1000, "qualification", "open", ago(15), None, ago(20), ago(15)),
                       # proposal for 20 days: under the 21-day benchmark
                       ("p1", "P", "rep-ana", 3000, "proposal", "open", ago(20), None, ago(20), ago(20)),
                       # closing today: still "at_risk", not "passed" (a date passes at the end of the UTC day)
                       ("n1", "N", "rep-bo", 5000, "negotiation", "open", ago(3), TODAY, ago(3), ago(3)),
                       ("x1", "X", "rep-bo", None, "discovery", "lost", at("01-05"), None, at("01-01"), at("01-05")),
                   ])
            # A stay whose entry was never recorded (a deal projected before stage_entries existed).
            insert(conn, "stage_history", "event_id, deal_id, from_stage, to_stage, kind, reason, changed_at, "
                   "days_in_from_stage", [("h1", "x1", "discovery", "lost", "lost", None, at("01-05"), 4)])
            insert(conn, "stage_entries", "event_id, deal_id, stage, entered_at, via", [
                ("e1", "q1", "qualification", ago(15), "imported"), ("e2", "p1", "proposal", ago(20), "imported"),
                ("e3", "n1", "negotiation", ago(3), "imported")])

        assert rows(url, "SELECT * FROM stage_conversion") == [
            ("discovery", 0, 0, 0, 0, 0, 1, 0, 0, D("0"), D("0"), D("0"), D("0")),   # entered 0: rates 0
            ("qualification", 1, 0, 0, 0, 0, 0, 0, 1, D("0"), D("0"), D("0"), D("0")),
            ("proposal", 1, 0, 0, 0, 0, 0, 0, 1, D("0"), D("0"), D("0"), D("0")),
            ("negotiation", 1, 0, 0, 0, 0, 0, 0, 1, D("0"), D("0"), D("0"), D("0")),
        ]
        assert rows(url, "SELECT deal_id, days_in_stage, average_days, average_source FROM review_monthly") == [
            ("q1", D("15"), D("14"), "benchmark")]
        # A late-stage deal without a close date is "missing", not "ok"; no alerts gives 0 and an empty list.
        weekly = "SELECT deal_id, close_date_risk, open_alerts, open_alert_types FROM review_weekly"
        assert rows(url, weekly) == [("n1", "at_risk", 0, []), ("p1", "missing", 0, [])]
        for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # "today" is the UTC date whatever the session's zone
            with psycopg.connect(url) as conn:
                conn.execute(f"SET TIME ZONE '{zone}'")  # type: ignore[arg-type]
                assert conn.execute(weekly).fetchall() == [("n1", "at_risk", 0, []), ("p1", "missing", 0, [])]
        # Lost but never won: a win rate of 0 and no cycle to divide by, so no velocity.
        assert rows(url, "SELECT * FROM pipeline_velocity") == [(3, D("3000"), D("0"), None, None)]
        # Deals without an amount are in no size band.
        assert rows(url, "SELECT * FROM time_in_stage_by_size_band") == []
        assert rows(url, "SELECT * FROM time_in_stage_by_stage") == [("discovery", 1, D("4"), D("4"))]
