"""The analytics views of migration 0005 (issue 17) on the real PostgreSQL, against figures worked out by
hand from the fixture of :mod:`tests.integration.manager_support` (facts and alerts as the core emits
them, written by the projector's batch writer). The README's samples are these outputs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D

import pytest

from processors.config import Settings
from tests.integration import manager_support
from tests.integration.manager_support import rows
from tests.integration.support import isolated


@pytest.fixture(scope="module")
def url(base_settings: Settings) -> Iterator[str]:
    with isolated(base_settings) as settings:
        manager_support.load(settings.database_url)
        yield settings.database_url


def test_blockers_by_code_stall_point_and_stage(url: str) -> None:
    # b0, b1 risk_aversion (b1 open); b2 information_gap open and due 2 days ago, b3 resolved; b4 resolved.
    assert rows(url, "SELECT * FROM blockers_by_code") == [
        ("information_gap", 2, 1, 1, 1), ("risk_aversion", 2, 1, 1, 0), ("budget_uncertainty", 1, 0, 1, 0)]
    assert rows(url, "SELECT * FROM blockers_by_stall_point") == [
        ("risk_aversion", "legal_review_drags", 2, 1, 1), ("budget_uncertainty", "price_objection", 1, 0, 1),
        ("information_gap", "no_requirements", 1, 1, 0), ("information_gap", None, 1, 0, 1)]
    # b4's resolution was projected a batch before its identification: still counted in proposal, resolved.
    assert rows(url, "SELECT * FROM blockers_by_stage") == [
        ("qualification", 1, 1, 0), ("proposal", 1, 0, 1), ("negotiation", 3, 1, 2)]


def test_median_time_to_resolve_a_blocker(url: str) -> None:
    # Resolved after 10 (b4), 2 (b3) and 6 (b0) days: median and average 6 over all codes.
    assert rows(url, "SELECT * FROM blocker_resolution_time") == [
        ("budget_uncertainty", 1, D("10.00"), D("10.00")), ("information_gap", 1, D("2.00"), D("2.00")),
        ("risk_aversion", 1, D("6.00"), D("6.00")), (None, 3, D("6.00"), D("6.00"))]


def test_share_of_stuck_deals_with_a_blocker_per_team(url: str) -> None:
    # apac: n1 (ghosting, b1) and q1 (inactive, b2); emea: p1 (stalled, none; c1's overdue next step is no
    # stall); no team: x1 (inactive, none).
    assert rows(url, "SELECT * FROM blocker_coverage_by_team") == [
        ("apac", 2, 2, 0, D("1.0000")), ("emea", 1, 0, 1, D("0.0000")), (None, 1, 0, 1, D("0.0000"))]
    assert rows(url, "SELECT deal_id, stuck_alert_types FROM stuck_deals ORDER BY deal_id") == [
        ("n1", ["deal.ghosting"]), ("p1", ["deal.stalled"]), ("q1", ["deal.inactive"]), ("x1", ["deal.inactive"])]


def test_interventions_and_what_followed_within_30_days(url: str) -> None:
    assert rows(url, "SELECT deal_id, kind, outcome, days_to_outcome FROM intervention_outcomes") == [
        ("w1", "executive_introduction", "advanced", D("2.00")),   # advanced 2 days later
        ("r1", "deal_restructuring", "regressed", D("4.00")),
        ("w2", "negotiation_support", "won", D("5.00")),
        ("l1", "negotiation_support", "lost", D("8.00")),
        ("w1", "stakeholder_mapping", "no_change", None),          # won 36 days later: outside the window
        ("n1", "executive_introduction", "pending", None),         # 2 days ago, nothing yet
    ]
    assert rows(url, "SELECT * FROM intervention_outcomes_by_kind") == [
        ("deal_restructuring", 1, 0, 1, 0, 0, 0, 0, 0), ("executive_introduction", 2, 1, 0, 0, 0, 0, 0, 1),
        ("negotiation_support", 2, 0, 0, 1, 1, 0, 0, 0), ("stakeholder_mapping", 1, 0, 0, 0, 0, 0, 1, 0)]


def test_loss_reasons_by_stage(url: str) -> None:
    assert rows(url, "SELECT * FROM loss_reasons_by_stage") == [
        ("proposal", "price", 1), ("proposal", "timing", 1), ("negotiation", "price", 1)]


def test_the_coaching_and_the_deals_managers(url: str) -> None:
    assert rows(url, "SELECT deal_id, type, addressed_to, next_best_action FROM open_coaching ORDER BY deal_id") == [
        ("c1", "next_step.overdue", "owner", "Act on next_step.overdue"),
        ("n1", "deal.ghosting", "manager", "Act on deal.ghosting"),
        ("p1", "deal.stalled", "owner", "Act on deal.stalled"),
        ("q1", "deal.inactive", "owner", "Act on deal.inactive")]
    assert rows(url, "SELECT * FROM deal_managers ORDER BY deal_id") == [
        ("c1", "mgr-eve", "emea"), ("n1", "mgr-max", "apac"), ("p1", "mgr-eve", "emea"), ("q1", "mgr-max", "apac"),
        ("x1", None, None)]
    [(overdue,)] = rows(url, "SELECT blockers->0->>'overdue' FROM open_blockers_by_deal WHERE deal_id = 'q1'")
    assert overdue == "true"
    assert rows(url, "SELECT due_date FROM blockers WHERE blocker_id = 'b4'") == [(date(2026, 1, 10),)]
