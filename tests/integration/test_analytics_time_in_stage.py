"""How long deals take, from the analytics views (migration 0003) against the real PostgreSQL: time in
stage by stage, rep and size band, weekly velocity, cycle length and pipeline velocity.

The fixture of eight deals is described in :mod:`tests.integration.analytics_support`; the expected
figures are computed by hand from it (see the comments next to each expectation).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from tests.integration import analytics_support
from tests.integration.analytics_support import rows

# The module-scoped fixture of analytics_support, under the name the tests ask for (a fixture is found by its
# name in the test module; each test module gets its own database with the fixture loaded).
url = analytics_support.url


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
