"""The analytics views and inspection queues (migration 0003) against the real PostgreSQL.

A hand-made fixture of eight deals (two reps, four size bands) is inserted with plain SQL, and
every view is checked against figures computed by hand (see the comments next to each
expectation). Historical events use fixed 2026 timestamps; the open deals, whose review
queues depend on ``now()``, are placed relative to the moment the fixture is written.

Fixture, in short (days = days_in_from_stage; 2026 events at 09:00 UTC unless shown):

  d1 ana   8 000 small   won   created 01-05  disc 2 -> qual 5 -> prop 14 -> nego 7 -> closing 3 -> won 02-05
  d2 bo   30 000 medium  won   created 01-12  disc 3 -> qual 7 -> prop 4 -(regress)-> qual 6 -> prop 10
                                               -> nego 5 -> closing 4.5 -> won 02-20 21:00
  d3 ana  10 000 medium  lost  created 01-19  disc 4 -> qual 9 -(nurture)-> nurture 18 -> lost 02-19
  d4 bo   60 000 large   disq  created 01-09  disc 10 -> disqualified Monday 01-19
  d5 ana  20 000 medium  open  imported into proposal     9.5 days ago, close date yesterday
  d6 bo   45 000 medium  open  imported into negotiation 10 days ago, close date in 15 days
  d7 ana   5 000 small   open  imported into qualification 6 days ago, close date in 60 days
  d8 bo  300 000 enterpr open  imported into closing      4 days ago, close date in 14 days
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from processors.config import Settings
from projections.queries import review
from tests.integration.support import isolated

MIGRATION = Path(__file__).resolve().parents[2] / "projections" / "migrations" / "0003_analytics.sql"

VIEWS = ("time_in_stage_by_stage", "time_in_stage_by_rep", "time_in_stage_by_size_band", "stage_conversion",
         "velocity_weekly", "cycle_length_weekly", "pipeline_velocity", "blocker_criteria", "alert_types_by_stage",
         "regression_rate_by_stage", "regression_rate_by_rep", "close_date_slips", "close_date_slip_summary",
         "review_weekly", "review_monthly")

# The moment the fixture is written (whole seconds, so timestamps print without fractions), set again
# by ``start_clock`` right before a fixture is written: the suite may run long after this module is imported.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TODAY = NOW.date()


def start_clock() -> None:
    global NOW, TODAY
    NOW = datetime.now(timezone.utc).replace(microsecond=0)
    TODAY = NOW.date()


def at(day: str, hour: int = 9) -> datetime:
    """A fixed 2026 timestamp: ``at("01-05")`` is 2026-01-05 09:00 UTC."""
    return datetime.fromisoformat(f"2026-{day}T{hour:02d}:00:00+00:00")


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def insert(conn: psycopg.Connection[Any], table: str, columns: str, values: list[tuple[Any, ...]]) -> None:
    marks = ", ".join(["%s"] * len(columns.split(",")))
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)


# --------------------------------------------------------------------------------------------
# The fixture
# --------------------------------------------------------------------------------------------

def load_fixture(url: str) -> None:
    with psycopg.connect(url) as conn:
        insert(conn, "deals", "deal_id, name, owner_id, amount, stage, status, stage_entered_at, close_date, "
               "next_step_description, next_step_due, missing_criteria, created_at, updated_at", [
                   ("d1", "Initech", "rep-ana", 8000, "closing", "won", at("02-02"), date(2026, 2, 6),
                    None, None, [], at("01-05"), at("02-05")),
                   ("d2", "Globex", "rep-bo", 30000, "closing", "won", at("02-16"), date(2026, 2, 15),
                    None, None, [], at("01-12"), at("02-20", 21)),
                   ("d3", "Umbrella", "rep-ana", 10000, "nurture", "lost", at("02-01"), date(2026, 3, 31),
                    None, None, [], at("01-19"), at("02-19")),
                   ("d4", "Hooli", "rep-bo", 60000, "discovery", "disqualified", at("01-09"), None,
                    None, None, [], at("01-09"), at("01-19")),
                   ("d5", "Acme", "rep-ana", 20000, "proposal", "open", ago(9.5), TODAY - timedelta(days=1),
                    "Walk through the proposal with the decision maker", TODAY + timedelta(days=2),
                    ["pricing_feedback_received", "scope_agreed"], ago(9.5), ago(1)),
                   ("d6", "Stark", "rep-bo", 45000, "negotiation", "open", ago(10), TODAY + timedelta(days=15),
                    "Agree the contract terms", TODAY - timedelta(days=1),
                    ["contract_terms_agreed"], ago(10), ago(2)),
                   ("d7", "Wayne", "rep-ana", 5000, "qualification", "open", ago(6), TODAY + timedelta(days=60),
                    "Confirm the economic buyer", TODAY + timedelta(days=5),
                    ["economic_buyer_engaged"], ago(6), ago(6)),
                   ("d8", "Tyrell", "rep-bo", 300000, "closing", "open", ago(4), TODAY + timedelta(days=14),
                    "Get the contract signed", TODAY + timedelta(days=3),
                    ["contract_signed"], ago(4), ago(4)),
               ])
        # Every completed stay (from_stage, kind, days) and the entries that go with it.
        history = [
            ("h01", "d1", "discovery", "qualification", "advance", None, at("01-07"), 2),
            ("h02", "d1", "qualification", "proposal", "advance", None, at("01-12"), 5),
            ("h03", "d1", "proposal", "negotiation", "advance", None, at("01-26"), 14),
            ("h04", "d1", "negotiation", "closing", "advance", None, at("02-02"), 7),
            ("h05", "d1", "closing", "won", "won", None, at("02-05"), 3),
            ("h06", "d2", "discovery", "qualification", "advance", None, at("01-15"), 3),
            ("h07", "d2", "qualification", "proposal", "advance", None, at("01-22"), 7),
            ("h08", "d2", "proposal", "qualification", "regress", "stakeholder_changed", at("01-26"), 4),
            ("h09", "d2", "qualification", "proposal", "advance", None, at("02-01"), 6),
            ("h10", "d2", "proposal", "negotiation", "advance", None, at("02-11"), 10),
            ("h11", "d2", "negotiation", "closing", "advance", None, at("02-16"), 5),
            ("h12", "d2", "closing", "won", "won", None, at("02-20", 21), 4.5),
            ("h13", "d3", "discovery", "qualification", "advance", None, at("01-23"), 4),
            ("h14", "d3", "qualification", "nurture", "nurture", "timeline_extended", at("02-01"), 9),
            ("h15", "d3", "nurture", "lost", "lost", "no_decision", at("02-19"), 18),
            ("h16", "d4", "discovery", "disqualified", "disqualify", "cannot_afford", at("01-19"), 10),
        ]
        insert(conn, "stage_history", "event_id, deal_id, from_stage, to_stage, kind, reason, changed_at, "
               "days_in_from_stage", history)
        entries = [(f"e-{d}", d, stage, at(day), "created") for d, stage, day in
                   [("d1", "discovery", "01-05"), ("d2", "discovery", "01-12"), ("d3", "discovery", "01-19"),
                    ("d4", "discovery", "01-09")]]
        entries += [(f"e-{event}", deal, to_stage, changed_at, kind)
                    for event, deal, _, to_stage, kind, _, changed_at, _ in history
                    if kind in ("advance", "regress", "nurture")]
        entries += [("e-d5", "d5", "proposal", ago(9.5), "imported"),
                    ("e-d6", "d6", "negotiation", ago(10), "imported"),
                    ("e-d7", "d7", "qualification", ago(6), "imported"),
                    ("e-d8", "d8", "closing", ago(4), "imported")]
        insert(conn, "stage_entries", "event_id, deal_id, stage, entered_at, via", entries)
        insert(conn, "evidence", "event_id, deal_id, criterion, kind, reference, summary, recorded_by, "
               "recorded_at, source_event_id, valid", [
                   ("ev1", "d1", "contract_signed", "document", "contract-initech.pdf", None, "rep-ana",
                    at("02-04"), "cmd-ev1", True),
                   ("ev2", "d5", "scope_agreed", "email", "msg-7", "Scope confirmed by mail", "rep-ana",
                    ago(1), "cmd-ev2", False),
                   ("ev3", "d5", "proposal_reviewed_with_decision_maker", "meeting", "mtg-1", None, "rep-ana",
                    ago(2), "cmd-ev3", True),
               ])

        def alert(alert_id: str, deal: str, type_: str, status: str, stage: str, owner: str) -> tuple[Any, ...]:
            return (alert_id, deal, type_, "warning", status, ago(3), ago(1) if status == "resolved" else None,
                    stage, owner, None, Jsonb({}))

        insert(conn, "alerts", "alert_id, deal_id, type, severity, status, raised_at, resolved_at, stage, "
               "owner_id, caused_by, details", [
                   alert("a1", "d5", "deal.stalled", "raised", "proposal", "rep-ana"),
                   alert("a2", "d5", "close_date.passed", "raised", "proposal", "rep-ana"),
                   alert("a3", "d5", "deal.stalled", "resolved", "proposal", "rep-ana"),  # an earlier episode
                   alert("a4", "d6", "next_step.overdue", "raised", "negotiation", "rep-bo"),
                   alert("a5", "d6", "deal.late_stage_entered", "raised", "negotiation", "rep-bo"),
                   alert("a6", "d1", "deal.inactive", "resolved", "discovery", "rep-ana"),
                   alert("a7", "d8", "deal.late_stage_entered", "raised", "closing", "rep-bo"),
                   alert("a8", "d3", "gate.rejected", "raised", "qualification", "rep-ana"),
               ])

        def refusal(event: str, deal: str, stage: str, criteria: list[str],
                    fields: list[str] = []) -> tuple[Any, ...]:  # noqa: B006
            return (event, deal, "stage.change", Jsonb({"type": "stage.change"}),
                    "exit_criteria_unmet" if criteria else "missing_fields", "refused", criteria, fields,
                    stage, None, at("03-01"))

        insert(conn, "gate_rejections", "event_id, deal_id, command_type, requested, reason, message, "
               "missing_criteria, missing_fields, stage, owner_id, rejected_at", [
                   refusal("g1", "d1", "discovery", ["budget_confirmed", "pain_documented"]),
                   refusal("g2", "d2", "discovery", ["pain_documented"]),
                   refusal("g3", "d5", "proposal", ["pricing_feedback_received", "scope_agreed"]),
                   refusal("g4", "d5", "proposal", ["scope_agreed"]),
                   refusal("g5", "d6", "negotiation", [], ["next_step"]),  # no criterion: no blocker row
                   refusal("g6", "d3", "qualification", ["economic_buyer_engaged"]),
               ])
        insert(conn, "close_date_changes", "event_id, deal_id, old_date, new_date, changed_at", [
            ("c1", "d5", TODAY - timedelta(days=31), TODAY - timedelta(days=11), ago(9)),   # slip of 20 days
            ("c2", "d5", TODAY - timedelta(days=11), TODAY - timedelta(days=1), ago(5)),    # slip of 10 days
            ("c3", "d6", TODAY + timedelta(days=8), TODAY + timedelta(days=15), ago(3)),    # slip of 7 days
            ("c4", "d3", date(2026, 2, 27), date(2026, 3, 31), at("01-30")),                # slip of 32 days
            ("c5", "d2", None, date(2026, 2, 28), at("01-12")),                              # first date: no slip
            ("c6", "d2", date(2026, 2, 28), date(2026, 2, 15), at("02-10")),                # pulled in: no slip
            ("c7", "d7", TODAY + timedelta(days=60), TODAY + timedelta(days=60), ago(1)),   # same date: no slip
        ])
        insert(conn, "engagement", "event_id, deal_id, type, contact_id, occurred_at, buyer_response, "
               "buyer_engagement, outbound_touch", [
                   ("m1", "d5", "email.sent", "champ", ago(3), False, False, True),
                   ("m2", "d5", "email.replied", "champ", ago(2), True, True, False),
                   ("m3", "d6", "meeting.held", "cfo", ago(5), True, True, False),
                   ("m4", "d1", "meeting.held", "cfo", at("01-20"), True, True, False),
               ])


@pytest.fixture(scope="module")
def url(base_settings: Settings) -> Iterator[str]:
    """A fresh database with every migration applied and the fixture loaded."""
    with isolated(base_settings) as settings:
        start_clock()
        load_fixture(settings.database_url)
        yield settings.database_url


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
    before = {view: rows(url, f"SELECT * FROM {view}") for view in VIEWS if not view.startswith("review_")}
    with psycopg.connect(url) as conn:
        conn.execute(MIGRATION.read_text())  # type: ignore[arg-type]
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
# Time in stage
# --------------------------------------------------------------------------------------------

def test_time_in_stage_by_stage(url: str) -> None:
    assert rows(url, "SELECT * FROM time_in_stage_by_stage") == [
        ("discovery", 4, D("4.75"), D("3.5")),       # 2, 3, 4, 10
        ("qualification", 4, D("6.75"), D("6.5")),   # 5, 7, 6, 9 (d2 twice)
        ("proposal", 3, D("9.33"), D("10")),         # 14, 4, 10
        ("negotiation", 2, D("6"), D("6")),          # 7, 5
        ("closing", 2, D("3.75"), D("3.75")),        # 3, 4.5 (the won exits)
        ("nurture", 1, D("18"), D("18")),            # 18 (the lost exit)
    ]


def test_time_in_stage_by_rep(url: str) -> None:
    assert rows(url, "SELECT * FROM time_in_stage_by_rep") == [
        ("rep-ana", "discovery", 2, D("3"), D("3")),         # d1 2, d3 4
        ("rep-ana", "qualification", 2, D("7"), D("7")),     # d1 5, d3 9
        ("rep-ana", "proposal", 1, D("14"), D("14")),
        ("rep-ana", "negotiation", 1, D("7"), D("7")),
        ("rep-ana", "closing", 1, D("3"), D("3")),
        ("rep-ana", "nurture", 1, D("18"), D("18")),
        ("rep-bo", "discovery", 2, D("6.5"), D("6.5")),      # d2 3, d4 10
        ("rep-bo", "qualification", 2, D("6.5"), D("6.5")),  # d2 7, 6
        ("rep-bo", "proposal", 2, D("7"), D("7")),           # d2 4, 10
        ("rep-bo", "negotiation", 1, D("5"), D("5")),
        ("rep-bo", "closing", 1, D("4.5"), D("4.5")),
    ]


def test_time_in_stage_by_size_band(url: str) -> None:
    assert rows(url, "SELECT * FROM time_in_stage_by_size_band") == [
        ("small", "discovery", 1, D("2"), D("2")),               # d1 (8 000)
        ("small", "qualification", 1, D("5"), D("5")),
        ("small", "proposal", 1, D("14"), D("14")),
        ("small", "negotiation", 1, D("7"), D("7")),
        ("small", "closing", 1, D("3"), D("3")),
        ("medium", "discovery", 2, D("3.5"), D("3.5")),          # d2 (30 000) 3, d3 (exactly 10 000) 4
        ("medium", "qualification", 3, D("7.33"), D("7")),       # 7, 6, 9
        ("medium", "proposal", 2, D("7"), D("7")),               # 4, 10
        ("medium", "negotiation", 1, D("5"), D("5")),
        ("medium", "closing", 1, D("4.5"), D("4.5")),
        ("medium", "nurture", 1, D("18"), D("18")),
        ("large", "discovery", 1, D("10"), D("10")),             # d4 (60 000)
    ]


# --------------------------------------------------------------------------------------------
# Conversion and regression
# --------------------------------------------------------------------------------------------

def test_stage_conversion(url: str) -> None:
    assert rows(url, "SELECT * FROM stage_conversion") == [
        # stage, entered, advanced, regressed, nurtured, disqualified, lost, won, still, rates (adv, reg, disq, lost)
        ("discovery", 4, 3, 0, 0, 1, 0, 0, 0, D("0.75"), D("0"), D("0.25"), D("0")),
        # d1, d2 (entered twice, advanced twice: counted once), d3, d7
        ("qualification", 4, 2, 0, 1, 0, 0, 0, 1, D("0.5"), D("0"), D("0"), D("0")),
        # d1, d2 (twice: advanced once and regressed once), d5
        ("proposal", 3, 2, 1, 0, 0, 0, 0, 1, D("0.6667"), D("0.3333"), D("0"), D("0")),
        ("negotiation", 3, 2, 0, 0, 0, 0, 0, 1, D("0.6667"), D("0"), D("0"), D("0")),
        # d1 and d2 won, d8 still there; a win is not an advance
        ("closing", 3, 0, 0, 0, 0, 0, 2, 1, D("0"), D("0"), D("0"), D("0")),
        ("nurture", 1, 0, 0, 0, 0, 1, 0, 0, D("0"), D("0"), D("0"), D("1")),
    ]
    [(scale,)] = rows(url, "SELECT scale(advanced_rate) FROM stage_conversion WHERE stage = 'proposal'")
    assert scale == 4


def test_regression_rates(url: str) -> None:
    assert rows(url, "SELECT * FROM regression_rate_by_stage") == [
        ("discovery", 4, 0, D("0")),
        ("qualification", 4, 0, D("0")),
        ("proposal", 3, 1, D("0.3333")),
        ("negotiation", 3, 0, D("0")),
        ("closing", 3, 0, D("0")),
        ("nurture", 1, 0, D("0")),
    ]
    assert rows(url, "SELECT * FROM regression_rate_by_rep") == [
        ("rep-ana", 4, 0, D("0")),          # d1, d3, d5, d7
        ("rep-bo", 4, 1, D("0.25")),        # d2 regressed; d4, d6, d8 did not
    ]


# --------------------------------------------------------------------------------------------
# Velocity
# --------------------------------------------------------------------------------------------

def test_velocity_weekly(url: str) -> None:
    week = date.fromisoformat
    assert rows(url, "SELECT * FROM velocity_weekly") == [
        (week("2026-01-05"), "discovery", D("2")),                # d1 01-07
        (week("2026-01-12"), "discovery", D("3")),                # d2 01-15
        (week("2026-01-12"), "qualification", D("5")),            # d1 01-12
        (week("2026-01-19"), "discovery", D("7")),                # d4 Mon 01-19 (10), d3 01-23 (4)
        (week("2026-01-19"), "qualification", D("7")),            # d2 01-22
        (week("2026-01-26"), "qualification", D("7.5")),          # d2 Sun 02-01 (6), d3 Sun 02-01 (9)
        (week("2026-01-26"), "proposal", D("9")),                 # d1 01-26 (14), d2 01-26 (4)
        (week("2026-02-02"), "negotiation", D("7")),              # d1 02-02
        (week("2026-02-02"), "closing", D("3")),                  # d1 won 02-05
        (week("2026-02-09"), "proposal", D("10")),                # d2 02-11
        (week("2026-02-16"), "negotiation", D("5")),              # d2 02-16
        (week("2026-02-16"), "closing", D("4.5")),                # d2 won 02-20
        (week("2026-02-16"), "nurture", D("18")),                 # d3 lost 02-19
    ]


def test_cycle_length_weekly(url: str) -> None:
    assert rows(url, "SELECT * FROM cycle_length_weekly") == [
        (date(2026, 1, 19), 1, D("10")),     # d4 disqualified Mon 01-19, created 01-09
        (date(2026, 2, 2), 1, D("31")),      # d1 won 02-05, created 01-05
        (date(2026, 2, 16), 2, D("35.25")),  # d2 won 02-20 21:00 (39.5 days), d3 lost 02-19 (31 days)
    ]


def test_pipeline_velocity(url: str) -> None:
    # 4 open deals (d5-d8) x 92 500 average x win rate 2 / 4 / 35.25 days average won cycle (31, 39.5)
    # = 185 000 / 35.25 = 5 248.2269...
    [row] = rows(url, "SELECT * FROM pipeline_velocity")
    assert row == (4, D("92500"), D("0.5"), D("35.25"), D("5248.23"))


# --------------------------------------------------------------------------------------------
# Blockers, alerts, close-date slips
# --------------------------------------------------------------------------------------------

def test_blocker_criteria(url: str) -> None:
    assert rows(url, "SELECT * FROM blocker_criteria") == [
        ("pain_documented", "discovery", 2),
        ("scope_agreed", "proposal", 2),
        ("budget_confirmed", "discovery", 1),
        ("economic_buyer_engaged", "qualification", 1),
        ("pricing_feedback_received", "proposal", 1),
    ]


def test_alert_types_by_stage(url: str) -> None:
    assert rows(url, "SELECT * FROM alert_types_by_stage") == [
        ("discovery", "deal.inactive", 1),
        ("qualification", "gate.rejected", 1),
        ("proposal", "deal.stalled", 2),          # a raised and a resolved episode
        ("proposal", "close_date.passed", 1),
        ("negotiation", "deal.late_stage_entered", 1),
        ("negotiation", "next_step.overdue", 1),
        ("closing", "deal.late_stage_entered", 1),
    ]


def test_close_date_slips(url: str) -> None:
    assert rows(url, "SELECT * FROM close_date_slips") == [
        ("d3", "rep-ana", 1, 32, 32),
        ("d5", "rep-ana", 2, 30, 20),
        ("d6", "rep-bo", 1, 7, 7),
    ]
    # 3 of 8 deals slipped; 4 slips of 20, 10, 7 and 32 days
    assert rows(url, "SELECT * FROM close_date_slip_summary") == [(3, 4, D("17.25"), D("0.375"))]


# --------------------------------------------------------------------------------------------
# Inspection queues
# --------------------------------------------------------------------------------------------

def test_review_weekly(url: str) -> None:
    got = rows(url, """SELECT deal_id, stage, owner_id, amount, days_in_stage, missing_criteria,
                              next_step_description, next_step_due, close_date, close_date_risk,
                              open_alerts, open_alert_types FROM review_weekly""")
    assert got == [
        ("d8", "closing", "rep-bo", D("300000"), D("4"), ["contract_signed"], "Get the contract signed",
         TODAY + timedelta(days=3), TODAY + timedelta(days=14), "at_risk", 1, ["deal.late_stage_entered"]),
        ("d6", "negotiation", "rep-bo", D("45000"), D("10"), ["contract_terms_agreed"], "Agree the contract terms",
         TODAY - timedelta(days=1), TODAY + timedelta(days=15), "ok", 2,
         ["deal.late_stage_entered", "next_step.overdue"]),
        ("d5", "proposal", "rep-ana", D("20000"), D("9.5"), ["pricing_feedback_received", "scope_agreed"],
         "Walk through the proposal with the decision maker", TODAY + timedelta(days=2),
         TODAY - timedelta(days=1), "passed", 2, ["close_date.passed", "deal.stalled"]),
    ]


def test_review_monthly(url: str) -> None:
    # d5: 9.5 days in proposal > its 9.33 average (but < its median 10 and < the 21-day benchmark);
    # d7: 6 days in qualification < its 6.75 average.
    got = rows(url, """SELECT deal_id, stage, owner_id, days_in_stage, average_days, average_source, ratio
                       FROM review_monthly""")
    assert got == [("d5", "proposal", "rep-ana", D("9.5"), D("9.33"), "stays", D("1.02"))]


def oracle_draw(seed: str, deal_ids: list[str]) -> list[str]:
    """The sample order the function promises: md5(seed text || deal_id)."""
    return sorted(deal_ids, key=lambda deal_id: hashlib.md5((seed + deal_id).encode()).hexdigest())


def test_review_quarterly_sample(url: str) -> None:
    sample = rows(url, "SELECT deal_id, stage, status, owner_id, amount FROM review_quarterly_sample(42, 1)")
    closing = oracle_draw("42", ["d1", "d2", "d8"])
    assert sample == [
        ("d4", "discovery", "disqualified", "rep-bo", D("60000")),
        ("d7", "qualification", "open", "rep-ana", D("5000")),
        ("d5", "proposal", "open", "rep-ana", D("20000")),
        ("d6", "negotiation", "open", "rep-bo", D("45000")),
        *rows(url, "SELECT deal_id, stage, status, owner_id, amount FROM deals WHERE deal_id = %s", closing[0]),
        ("d3", "nurture", "lost", "rep-ana", D("10000")),
    ]
    # Reproducible: the same seed draws the same deals; two per stage takes the next in the same order.
    assert rows(url, "SELECT * FROM review_quarterly_sample(42, 1)") == \
        rows(url, "SELECT * FROM review_quarterly_sample(42, 1)")
    two = rows(url, "SELECT deal_id FROM review_quarterly_sample(42, 2) WHERE stage = 'closing'")
    assert [deal_id for (deal_id,) in two] == closing[:2]
    assert rows(url, "SELECT count(*) FROM review_quarterly_sample(42, 2)") == [(7,)]
    assert rows(url, "SELECT count(*) FROM review_quarterly_sample(42, 0)") == [(0,)]
    # The seed decides the draw, exactly as md5(seed || deal_id) orders it.
    picks = {}
    for seed in ("1", "2", "3", "4", "5", "6", "7", "8", "0.25"):
        [(pick,)] = rows(url, "SELECT deal_id FROM review_quarterly_sample(%s, 1) WHERE stage = 'closing'",
                         float(seed))
        assert pick == oracle_draw(seed, ["d1", "d2", "d8"])[0], seed
        picks[seed] = pick
    assert len(set(picks.values())) > 1
    # The CLI's read path (`dealflow review quarterly`) calls the same function.
    assert [r["deal_id"] for r in review(url, "quarterly", seed=42.0, per_stage=1)] == [s[0] for s in sample]


def test_review_quarterly_sample_carries_the_evidence(url: str) -> None:
    evidence = dict(rows(url, "SELECT deal_id, evidence FROM review_quarterly_sample(7, 3)"))
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    assert evidence["d5"] == [
        {"criterion": "proposal_reviewed_with_decision_maker", "kind": "meeting", "reference": "mtg-1",
         "recorded_by": "rep-ana", "recorded_at": ago(2).strftime(stamp), "valid": True},
        {"criterion": "scope_agreed", "kind": "email", "reference": "msg-7",
         "recorded_by": "rep-ana", "recorded_at": ago(1).strftime(stamp), "valid": False},
    ]
    assert evidence["d1"] == [
        {"criterion": "contract_signed", "kind": "document", "reference": "contract-initech.pdf",
         "recorded_by": "rep-ana", "recorded_at": "2026-02-04T09:00:00Z", "valid": True}]
    assert evidence["d8"] == [] and evidence["d4"] == []


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
