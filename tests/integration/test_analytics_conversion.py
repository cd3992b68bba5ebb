"""Where deals move on, go back or get stuck, from the analytics views (migration 0003) against the real
PostgreSQL: stage conversion, regression rates, blocker criteria, alert types by stage and close-date slips.

The fixture of eight deals is described in :mod:`tests.integration.analytics_support`; the expected
figures are computed by hand from it (see the comments next to each expectation).
"""

from __future__ import annotations

from decimal import Decimal as D

from tests.integration import analytics_support
from tests.integration.analytics_support import rows

# The module-scoped fixture of analytics_support, under the name the tests ask for (a fixture is found by its
# name in the test module; each test module gets its own database with the fixture loaded).
url = analytics_support.url


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
        ("negotiation", "deal.inactive", 1),
        ("negotiation", "deal.late_stage_entered", 1),
        ("negotiation", "next_step.overdue", 1),
        ("closing", "deal.ghosting", 1),
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
