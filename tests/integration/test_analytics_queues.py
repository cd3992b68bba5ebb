"""The inspection queues of the analytics migration (0003) against the real PostgreSQL: the weekly and
monthly review views and the reproducible quarterly sample with its evidence, also through the CLI's
read path.

The fixture of eight deals is described in :mod:`tests.integration.analytics_support`. Its open deals
are placed relative to the moment it is written and the expectations here read ``TODAY``, so this
module has its own ``url`` fixture, which starts the clock through the local ``start_clock``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D

import pytest

from processors.config import Settings
from projections.queries import review
from tests.integration import analytics_support
from tests.integration.analytics_support import TODAY, ago, load_fixture, rows
from tests.integration.support import isolated


def start_clock() -> None:
    """Start the fixture clock again and take its ``TODAY`` into this module (an imported name keeps its value)."""
    global TODAY
    analytics_support.start_clock()
    TODAY = analytics_support.TODAY


@pytest.fixture(scope="module")
def url(base_settings: Settings) -> Iterator[str]:
    """A fresh database with every migration applied and the fixture loaded."""
    with isolated(base_settings) as settings:
        start_clock()
        load_fixture(settings.database_url)
        yield settings.database_url


# --------------------------------------------------------------------------------------------
# Inspection queues
# --------------------------------------------------------------------------------------------

def test_review_weekly(url: str) -> None:
    got = rows(url, """SELECT deal_id, stage, owner_id, amount, days_in_stage, missing_criteria,
                              next_step_description, next_step_due, close_date, close_date_risk,
                              open_alerts, open_alert_types FROM review_weekly""")
    assert got == [
        ("d8", "closing", "rep-bo", D("300000"), D("4"), ["contract_signed"], "Get the contract signed",
         TODAY + timedelta(days=3), TODAY + timedelta(days=14), "at_risk", 1, ["deal.ghosting"]),
        ("d6", "negotiation", "rep-bo", D("45000"), D("10"), ["contract_terms_agreed"], "Agree the contract terms",
         TODAY - timedelta(days=1), TODAY + timedelta(days=15), "ok", 2,
         ["deal.inactive", "next_step.overdue"]),
        ("d5", "proposal", "rep-ana", D("20000"), D("9.5"), ["pricing_feedback_received", "scope_agreed"],
         "Walk through the proposal with the decision maker", TODAY + timedelta(days=2),
         TODAY - timedelta(days=1), "passed", 2, ["close_date.passed", "deal.stalled"]),
    ]


def test_open_conditions_count_conditions_only_and_tell_snoozed_and_acknowledged_ones(url: str) -> None:
    # Notifications (a5, a7, a8) and resolved conditions (a3, a6) are never open; a9's snooze runs on, a10's ended.
    assert rows(url, "SELECT alert_id, snoozed, acknowledged FROM open_conditions ORDER BY alert_id") == [
        ("a1", False, False), ("a10", False, False), ("a2", False, True), ("a4", False, False), ("a9", True, False)]
    assert rows(url, "SELECT * FROM open_conditions_by_deal ORDER BY deal_id") == [
        ("d5", 2, ["close_date.passed", "deal.stalled"], 2, 0, 1),
        ("d6", 2, ["deal.inactive", "next_step.overdue"], 2, 0, 0),
        ("d8", 1, ["deal.ghosting"], 0, 1, 0),
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
