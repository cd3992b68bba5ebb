"""The hand-made fixture of the analytics tests (migration 0003) and the helpers they share.

A fixture of eight deals (two reps, four size bands) is inserted with plain SQL; the test modules
``test_analytics_*.py`` check every view against figures computed by hand from it (see the comments
next to each expectation). Historical events use fixed 2026 timestamps; the open deals, whose review
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

Alerts (raised 3 days ago): open conditions d5 stalled + close date passed (acknowledged), d6 next step
overdue + inactive (its snooze ended a day ago), d8 ghosting (snoozed for two more days); resolved d5
stalled (an earlier episode) and d1 inactive; notifications d6 and d8 late stage entered, d3 gate rejected.

Plain functions and constants, plus the module-scoped ``url`` fixture: a test module takes it in under
that name (``url = analytics_support.url``) and gets its own fresh database with the fixture loaded.

``NOW`` and ``TODAY`` are set again by ``start_clock``; a name imported from here keeps the value it
had at import, so a test module that reads ``TODAY`` itself wraps ``start_clock`` to take the new value.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from processors.config import Settings
from tests.integration.support import isolated

MIGRATION = Path(__file__).resolve().parents[2] / "projections" / "migrations" / "0003_analytics.sql"

VIEWS = ("time_in_stage_by_stage", "time_in_stage_by_rep", "time_in_stage_by_size_band", "stage_conversion",
         "velocity_weekly", "cycle_length_weekly", "pipeline_velocity", "blocker_criteria", "alert_types_by_stage",
         "regression_rate_by_stage", "regression_rate_by_rep", "close_date_slips", "close_date_slip_summary",
         "review_weekly", "review_monthly", "open_conditions", "open_conditions_by_deal",
         # migration 0005 (issue 17)
         "deal_managers", "open_coaching", "open_blockers_by_deal", "stuck_deals", "review_weekly_blockers",
         "blockers_by_code", "blockers_by_stall_point", "blockers_by_stage", "blocker_resolution_time",
         "blocker_coverage_by_team", "intervention_outcomes", "intervention_outcomes_by_kind", "loss_reasons_by_stage",
         # migration 0006 (issue 18)
         "forecast_latest", "forecast_vs_actual")

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

        def alert(alert_id: str, deal: str, type_: str, status: str, stage: str, owner: str,
                  kind: str = "condition", acknowledged_by: str | None = None,
                  snoozed_until: datetime | None = None) -> tuple[Any, ...]:
            return (alert_id, deal, type_, kind, "warning", status, ago(3),
                    ago(1) if status == "resolved" else None, stage, owner, None, Jsonb({}), acknowledged_by,
                    snoozed_until, ago(1) if status != "raised" else ago(3))

        insert(conn, "alerts", "alert_id, deal_id, type, kind, severity, status, raised_at, resolved_at, stage, "
               "owner_id, caused_by, details, acknowledged_by, snoozed_until, updated_at", [
                   alert("a1", "d5", "deal.stalled", "raised", "proposal", "rep-ana"),
                   alert("a2", "d5", "close_date.passed", "updated", "proposal", "rep-ana", acknowledged_by="mgr"),
                   alert("a3", "d5", "deal.stalled", "resolved", "proposal", "rep-ana"),  # an earlier episode
                   alert("a4", "d6", "next_step.overdue", "raised", "negotiation", "rep-bo"),
                   alert("a5", "d6", "deal.late_stage_entered", "raised", "negotiation", "rep-bo", "notification"),
                   alert("a6", "d1", "deal.inactive", "resolved", "discovery", "rep-ana"),
                   alert("a7", "d8", "deal.late_stage_entered", "raised", "closing", "rep-bo", "notification"),
                   alert("a8", "d3", "gate.rejected", "raised", "qualification", "rep-ana", "notification"),
                   alert("a9", "d8", "deal.ghosting", "updated", "closing", "rep-bo",
                         snoozed_until=ago(-2)),  # snoozed for two more days: open, but no action now
                   alert("a10", "d6", "deal.inactive", "updated", "negotiation", "rep-bo",
                         snoozed_until=ago(1)),  # a snooze that ended: needs action again
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
    """A fresh database with every migration applied and the fixture loaded (one per test module using it)."""
    with isolated(base_settings) as settings:
        start_clock()
        load_fixture(settings.database_url)
        yield settings.database_url
