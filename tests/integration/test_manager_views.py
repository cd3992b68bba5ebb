"""The manager's views of issue 17 on the real PostgreSQL, through the CLI: the weekly queue's blockers
("blocker not identified" for a stuck deal without one), the coaching of open conditions in every queue
and in `dealflow deal`, the deal's timeline of blockers and interventions, and `--manager` on the review
queues and the digest. The fixture is :mod:`tests.integration.manager_support`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from processors.config import Settings
from tests.integration import manager_support
from tests.integration.support import REPO_ROOT, isolated, settings_env


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    with isolated(base_settings) as fresh:
        manager_support.load(fresh.database_url)
        yield fresh


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processors.cli", *args], cwd=REPO_ROOT,
                          env=settings_env(settings) | {"COLUMNS": "500"}, capture_output=True, text=True,
                          timeout=120, check=False)


def as_json(settings: Settings, *args: str) -> Any:
    result = cli(settings, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_weekly_queue_shows_blockers_and_says_when_a_stuck_deal_has_none(settings: Settings) -> None:
    weekly = {row["deal_id"]: row for row in as_json(settings, "review", "weekly")}
    assert list(weekly) == ["c1", "n1", "p1"]  # closing first
    assert (weekly["p1"]["stuck"], weekly["p1"]["blocker_status"], weekly["p1"]["blockers"]) == (
        True, "blocker not identified", [])
    assert (weekly["c1"]["stuck"], weekly["c1"]["blocker_status"]) == (False, None)  # an overdue next step: not stuck
    [blocker] = weekly["n1"]["blockers"]
    assert weekly["n1"]["blocker_status"] == "identified" and weekly["n1"]["stuck_alert_types"] == ["deal.ghosting"]
    assert (blocker["blocker_id"], blocker["code"], blocker["stall_point"], blocker["resolution_owner"],
            blocker["due_date"], blocker["overdue"]) == (
        "b1", "risk_aversion", "legal_review_drags", "owner-b1", str(manager_support.TODAY + timedelta(days=3)),
        False)
    assert [(c["type"], c["addressed_to"], c["next_best_action"], c["questions"])
            for c in weekly["n1"]["coaching"]] == [
        ("deal.ghosting", "manager", "Act on deal.ghosting", ["Why deal.ghosting?", "What must happen next?"])]

    text = " ".join(cli(settings, "review", "weekly").stdout.split())
    for expected in ("blocker not identified", "risk_aversion / legal_review_drags: owner-b1 by",
                     "deal.ghosting (manager): Act on deal.ghosting. Ask: Why deal.ghosting? / What must happen next?",
                     "deal.stalled: Act on deal.stalled."):
        assert expected in text, (expected, text)


def test_every_queue_carries_blockers_coaching_and_filters_by_manager(settings: Settings) -> None:
    assert [r["deal_id"] for r in as_json(settings, "review", "weekly", "--manager", "mgr-eve")] == ["c1", "p1"]
    assert [r["deal_id"] for r in as_json(settings, "review", "weekly", "--manager", "mgr-max")] == ["n1"]
    assert as_json(settings, "review", "weekly", "--manager", "mgr-nobody") == []

    # Over their stage's average: r1 (in qualification since January), p1 (20 days in proposal, whose stays
    # average 7.33 days), q1 (20 days in qualification, over its 14-day benchmark: no stay there yet).
    r1, p1, monthly = as_json(settings, "review", "monthly")
    assert (r1["deal_id"], r1["manager"], r1["blockers"], r1["coaching"]) == ("r1", None, [], [])
    assert (p1["deal_id"], p1["manager"], p1["blockers"], [c["type"] for c in p1["coaching"]]) == (
        "p1", "mgr-eve", [], ["deal.stalled"])
    assert (monthly["deal_id"], monthly["manager"], [b["code"] for b in monthly["blockers"]],
            monthly["blockers"][0]["overdue"]) == ("q1", "mgr-max", ["information_gap"], True)
    assert [c["type"] for c in monthly["coaching"]] == ["deal.inactive"]
    assert [r["deal_id"] for r in as_json(settings, "review", "monthly", "--manager", "mgr-eve")] == ["p1"]

    every = as_json(settings, "review", "quarterly", "--per-stage", "5")
    assert {r["deal_id"] for r in every} == {"p1", "n1", "c1", "q1", "x1", "w1", "w2", "l1", "l2", "l3", "r1"}
    eve = as_json(settings, "review", "quarterly", "--per-stage", "5", "--manager", "mgr-eve")
    assert [(r["deal_id"], r["manager"]) for r in eve] == [("p1", "mgr-eve"), ("c1", "mgr-eve")]  # in stage order
    assert [c["type"] for c in eve[0]["coaching"]] == ["deal.stalled"]
    human = " ".join(cli(settings, "review", "monthly", "--manager", "mgr-max").stdout.split())
    assert "manager mgr-max" in human and "information_gap / no_requirements: owner-b2 by" in human
    assert "(overdue)" in human


def test_the_digest_of_a_manager(settings: Settings) -> None:
    found = as_json(settings, "digest", "--manager", "mgr-eve")
    assert (found["manager"], sorted(d["deal_id"] for d in found["deals"])) == ("mgr-eve", ["c1", "p1"])
    c1 = next(d for d in found["deals"] if d["deal_id"] == "c1")
    assert [e["type"] for e in c1["notifications"]] == ["deal.late_stage_entered"]
    assert c1["needs_action"][0]["coaching"]["next_best_action"] == "Act on next_step.overdue"
    assert sorted(d["deal_id"] for d in as_json(settings, "digest", "--manager", "mgr-max")["deals"]) == ["n1", "q1"]
    human = " ".join(cli(settings, "digest", "--manager", "mgr-max").stdout.split())
    assert "Alert digest for manager mgr-max" in human and "next: Act on deal.ghosting" in human
    both = cli(settings, "digest", "--manager", "mgr-max", "--team", "apac")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_the_deal_shows_its_blockers_interventions_and_coaching(settings: Settings) -> None:
    found = as_json(settings, "deal", "n1")
    timeline = [(item["kind"], item["what"]) for item in found["timeline"]]
    assert [kind for kind, _ in timeline if kind.startswith(("blocker", "intervention"))] == [
        "blocker identified", "blocker resolved", "blocker identified", "intervention"]
    assert ("blocker resolved", "risk_aversion resolved by rep-bo after 6.0 days: done") in timeline
    assert ("intervention", "executive_introduction by mgr-eve in negotiation: intervention 6") in timeline
    assert [(b["blocker_id"], b["status"]) for b in found["blockers"]] == [("b1", "open"), ("b0", "resolved")]
    assert [(c["type"], c["next_best_action"]) for c in found["coaching"]] == [
        ("deal.ghosting", "Act on deal.ghosting")]
    [alert] = found["alerts"]
    assert (alert["manager"], alert["addressed_to"], alert["coaching"]["questions"]) == (
        "mgr-max", "manager", ["Why deal.ghosting?", "What must happen next?"])
    text = " ".join(cli(settings, "deal", "n1").stdout.split())
    for expected in ("blocker identified", "Coaching of the open conditions", "Act on deal.ghosting", "Blockers"):
        assert expected in text, expected
    assert "Blockers: none recorded" in cli(settings, "deal", "c1").stdout
