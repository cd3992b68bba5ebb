"""The alert lifecycle of issue 16 in the projection, on the real PostgreSQL: the upsert by ``alert_id``
(raised, updated, resolved in any delivery order, batching and replay, by both writers), the open-alert
counts (open conditions only) of every view, and ``dealflow digest``. The alert records are built with
the wire model (:class:`schemas.alerts.Alert`), as the core publishes them."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from processors.config import Settings
from projections.migrate import apply_migrations, migration_files
from projections.queries import OPEN_CONDITIONS_BY_TYPE, deal, pipeline, review
from schemas.alerts import Alert
from schemas.facts import AlertAcknowledged, DealCreated
from tests.integration.observability_support import PIPELINE_DASHBOARD, _targets
from tests.integration.support import REPO_ROOT, fresh_database, settings_env
from tests.integration.support import query_rows as rows
from tests.integration.support import write_records as write

Record = tuple[str, dict[str, Any]]
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def alert(alert_id: str, status: str = "raised", *, raised: datetime, at: datetime | None = None,
          type_: str = "deal.stalled", deal_id: str = "acme", owner: str = "rep-ana", team: str | None = "emea",
          severity: str = "warning", stage: str = "proposal", **fields: Any) -> Record:
    """One alert record as published (``at``: the moment of an update or resolution)."""
    moments: dict[str, Any] = {"updated_at": at} if status == "updated" else {}
    if status == "resolved":
        moments = {"resolved_at": at, "updated_at": at}
    kind = fields.pop("kind", "notification" if type_ in ("gate.rejected", "momentum.detected") else "condition")
    model = Alert(alert_id=alert_id, type=type_, deal_id=deal_id, severity=severity, status=status,  # type: ignore[arg-type]
                  raised_at=raised, stage=stage, owner_id=owner, caused_by=None, kind=kind, team=team,
                  details=fields.pop("details", {"rule": "time_in_stage"}), **moments, **fields)
    return "alert", json.loads(model.model_dump_json())


def created(deal_id: str, owner: str, stage: str = "proposal", name: str | None = None) -> Record:
    fact = DealCreated(event_id=f"c-{deal_id}", deal_id=deal_id, occurred_at=NOW - timedelta(days=30), caused_by=None,
                       name=name or deal_id.title(), owner_id=owner, amount=10000, currency="USD",
                       close_date=date(2027, 1, 31), stage=stage, imported=True)
    return "fact", json.loads(fact.model_dump_json())


@pytest.fixture()
def url(base_settings: Settings) -> Iterator[str]:
    with fresh_database(base_settings) as fresh:
        yield fresh


def episode(alert_id: str) -> list[Record]:
    """One condition's records: raised, escalated, acknowledged, resolved."""
    return [alert(alert_id, raised=T0, stage="proposal"),
            alert(alert_id, "updated", raised=T0, at=T0 + timedelta(days=1), severity="critical",
                  stage="negotiation", details={"rule": "time_in_stage", "ratio": 2.0}),
            alert(alert_id, "updated", raised=T0, at=T0 + timedelta(days=2), severity="critical", stage="negotiation",
                  acknowledged_by="mgr-1", acknowledged_at=T0 + timedelta(days=2), notify=False,
                  details={"rule": "time_in_stage", "ratio": 2.1}),
            alert(alert_id, "resolved", raised=T0, at=T0 + timedelta(days=3), severity="critical",
                  stage="negotiation", acknowledged_by="mgr-1", acknowledged_at=T0 + timedelta(days=2),
                  details={"rule": "time_in_stage", "ratio": 2.1})]


def test_migration_0004_turns_the_stored_alerts_into_conditions_and_notifications(base_settings: Settings) -> None:
    with fresh_database(base_settings, migrate=False) as url:
        with psycopg.connect(url) as conn:  # a database as the projector left it before issue 16
            conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz)")
            for path in migration_files()[:3]:
                conn.execute(path.read_text())  # type: ignore[arg-type]
                conn.execute("INSERT INTO schema_migrations VALUES (%s, now())", (path.stem,))
            conn.execute("""INSERT INTO alerts (alert_id, deal_id, type, severity, status, raised_at, resolved_at)
                            VALUES ('s', 'acme', 'deal.stalled', 'warning', 'raised', %(t)s, NULL),
                                   ('i', 'acme', 'deal.inactive', 'warning', 'resolved', %(t)s, %(later)s),
                                   ('g', 'acme', 'gate.rejected', 'warning', 'raised', %(t)s, NULL),
                                   ('m', 'acme', 'momentum.detected', 'info', 'raised', %(t)s, NULL)""",
                         {"t": T0, "later": T0 + timedelta(days=1)})
        assert apply_migrations(url) == ["0004_alert_lifecycle", "0005_manager_workflow", "0006_forecast"]
        assert rows(url, "SELECT alert_id, kind, updated_at FROM alerts ORDER BY alert_id") == [
            ("g", "notification", T0), ("i", "condition", T0 + timedelta(days=1)), ("m", "notification", T0),
            ("s", "condition", T0)]
        assert rows(url, "SELECT alert_id, status, at FROM alert_changes ORDER BY alert_id, at") == [
            ("g", "raised", T0), ("i", "raised", T0), ("i", "resolved", T0 + timedelta(days=1)), ("m", "raised", T0),
            ("s", "raised", T0)]
        assert rows(url, "SELECT alert_id FROM open_conditions") == [("s",)]
        write(url, [alert("s", "updated", raised=T0, at=T0 + timedelta(days=2), severity="critical")], True, 10)
        assert rows(url, "SELECT status, severity FROM alerts WHERE alert_id = 's'") == [("updated", "critical")]


ROW = """SELECT status, severity, stage, raised_at, updated_at, resolved_at, acknowledged_by, details->>'ratio'
         FROM alerts WHERE alert_id = %s"""
CHANGES = "SELECT status, at, severity, notify FROM alert_changes WHERE alert_id = %s ORDER BY at"


@pytest.mark.parametrize("by_batch", [True, False], ids=["batch", "one_by_one"])
def test_an_episode_ends_the_same_in_any_delivery_order_batching_and_replay(url: str, by_batch: bool) -> None:
    resolved = ("resolved", "critical", "proposal", T0, T0 + timedelta(days=3), T0 + timedelta(days=3), "mgr-1", "2.1")
    open_ = ("updated", "critical", "proposal", T0, T0 + timedelta(days=2), None, "mgr-1", "2.1")
    history = [("raised", T0, "warning", True), ("updated", T0 + timedelta(days=1), "critical", True),
               ("updated", T0 + timedelta(days=2), "critical", False),
               ("resolved", T0 + timedelta(days=3), "critical", True)]
    for n, order in enumerate(itertools.permutations(range(4))):
        whole, first_three = f"a{n}", f"b{n}"
        records = [episode(whole)[i] for i in order]
        records += [record for i, record in enumerate(episode(first_three)) if i < 3]
        write(url, records, by_batch, batch=len(records) if n % 2 else 1)
        write(url, records[::-1], by_batch, batch=3)  # replayed, oldest last
        assert rows(url, ROW, whole) == [resolved], order
        assert rows(url, CHANGES, whole) == history, order
        assert rows(url, ROW, first_three) == [open_], order


def test_open_alerts_are_open_conditions_in_every_count(url: str) -> None:
    day = timedelta(days=1)
    old_notification = alert("n2", raised=NOW - day, type_="momentum.detected", severity="info")
    del old_notification[1]["kind"]  # published before issue 16: its type makes it a notification
    write(url, [
        created("acme", "rep-ana"),
        alert("c1", raised=NOW - 5 * day),                                               # open
        alert("c2", raised=NOW - 5 * day, type_="deal.inactive"),
        alert("c2", "updated", raised=NOW - 5 * day, type_="deal.inactive", at=NOW - day,
              acknowledged_by="mgr-1", acknowledged_at=NOW - day),                       # open, acknowledged
        alert("c3", "updated", raised=NOW - 5 * day, type_="deal.ghosting", at=NOW - day,
              snoozed_until=NOW + 2 * day),                                              # open, snoozed
        alert("c4", raised=NOW - 5 * day, type_="next_step.overdue"),
        alert("c4", "resolved", raised=NOW - 5 * day, type_="next_step.overdue", at=NOW - day),  # resolved
        alert("n1", raised=NOW - day, type_="gate.rejected"),                            # notifications
        old_notification,
        ("fact", json.loads(AlertAcknowledged(event_id="ack-1", deal_id="acme", occurred_at=NOW - day, caused_by="m1",
                                              alert_id="c2", alert_type="deal.inactive", acknowledged_by="mgr-1",
                                              note="calling them Monday").model_dump_json())),
        ("fact", {"event_id": "x-1", "deal_id": "acme", "type": "deal.teleported", "occurred_at": NOW.isoformat(),
                  "caused_by": None}),                                                   # unknown: no row
    ], by_batch=True, batch=100)
    [row] = [r for r in pipeline(url) if r["status"] == "open"]
    assert row["open_alerts"] == 3
    assert dict(rows(url, OPEN_CONDITIONS_BY_TYPE)) == {"deal.stalled": 1, "deal.inactive": 1, "deal.ghosting": 1}
    [weekly] = review(url, "weekly")
    assert (weekly["open_alerts"], weekly["needs_action"], weekly["snoozed_alerts"], weekly["acknowledged_alerts"],
            weekly["open_alert_types"]) == (3, 2, 1, 1, ["deal.ghosting", "deal.inactive", "deal.stalled"])
    panels = {title: target["rawSql"] for title, target in _targets(PIPELINE_DASHBOARD) if "rawSql" in target}
    assert rows(url, panels["Open conditions"]) == [(3,)]
    assert sorted(r[0] for r in rows(url, panels["Open conditions needing action (not snoozed)"])) == [
        "deal.inactive", "deal.stalled"]
    found = deal(url, "acme")
    assert found is not None
    kinds = {a["alert_id"]: (a["kind"], a["status"], a["open"], a["acknowledged_by"]) for a in found["alerts"]}
    assert kinds == {"c1": ("condition", "raised", True, None), "c2": ("condition", "updated", True, "mgr-1"),
                     "c3": ("condition", "updated", True, None), "c4": ("condition", "resolved", False, None),
                     "n1": ("notification", "raised", False, None), "n2": ("notification", "raised", False, None)}
    timeline = [(item["kind"], item["what"]) for item in found["timeline"]]
    assert ("acknowledged", "deal.inactive by mgr-1: calling them Monday") in timeline
    assert [kind for kind, _ in timeline].count("notification") == 2
    assert ("alert updated", "deal.inactive warning (acknowledged by mgr-1)") in timeline


def _cli(url: str, base: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = settings_env(Settings(**{**base.__dict__, "database_url": url})) | {"COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "processors.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_digest_of_an_owner_and_of_a_team(url: str, base_settings: Settings) -> None:
    day = timedelta(days=1)
    write(url, [
        created("acme", "rep-ana", name="Acme Corp"), created("globex", "rep-ana"), created("initech", "rep-bo"),
        alert("s1", raised=NOW - 10 * day),                                              # opened before the period
        alert("s1", "updated", raised=NOW - 10 * day, at=NOW - 2 * day, severity="critical"),       # escalated
        alert("s1", "updated", raised=NOW - 10 * day, at=NOW - day, severity="critical",
              acknowledged_by="mgr-1", acknowledged_at=NOW - day, notify=False),         # no escalation
        alert("i1", raised=NOW - 3 * day, type_="deal.inactive"),                         # opened and resolved
        alert("i1", "resolved", raised=NOW - 3 * day, at=NOW - day, type_="deal.inactive"),
        alert("g1", raised=NOW - 2 * day, type_="gate.rejected", details={"message": "cannot advance"}),
        alert("n0", raised=NOW - 30 * day, type_="gate.rejected"),                       # before the period
        alert("h1", raised=NOW - 4 * day, type_="deal.ghosting", deal_id="globex"),
        alert("h1", "updated", raised=NOW - 4 * day, at=NOW - day, type_="deal.ghosting", deal_id="globex",
              snoozed_until=NOW + 3 * day),                                              # snoozed
        alert("o1", raised=NOW - 20 * day, type_="close_date.passed", deal_id="initech", owner="rep-bo"),
        alert("x1", raised=NOW - 2 * day, deal_id="hooli", owner="rep-cy", team="apac"),  # another team
    ], by_batch=False, batch=5)

    result = _cli(url, base_settings, "digest", "--owner", "rep-ana", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["totals"] == {"needs_action": 1, "escalated": 1, "opened": 2, "resolved": 1, "notifications": 1,
                               "snoozed": 1}
    acme, globex = found["deals"]
    assert (acme["deal_id"], acme["name"], acme["stage"], globex["deal_id"]) == ("acme", "Acme Corp", "proposal",
                                                                                 "globex")
    assert [(e["alert_id"], e["from_severity"], e["severity"]) for e in acme["escalated"]] == [
        ("s1", "warning", "critical")]
    assert [(e["alert_id"], e["acknowledged_by"]) for e in acme["needs_action"]] == [("s1", "mgr-1")]
    assert [e["alert_id"] for e in acme["opened"]] == ["i1"] and [e["alert_id"] for e in acme["resolved"]] == ["i1"]
    assert [e["alert_id"] for e in acme["notifications"]] == ["g1"]
    assert ([e["alert_id"] for e in globex["opened"]], globex["needs_action"],
            [e["alert_id"] for e in globex["snoozed"]]) == (["h1"], [], ["h1"])

    team = json.loads(_cli(url, base_settings, "digest", "--team", "emea", "--json").stdout)
    assert [d["deal_id"] for d in team["deals"]] == ["acme", "initech", "globex"]  # most needing action first
    assert [e["alert_id"] for e in team["deals"][1]["needs_action"]] == ["o1"]
    since = (NOW - 1.5 * day).isoformat()
    later = json.loads(_cli(url, base_settings, "digest", "--team", "emea", "--since", since, "--json").stdout)
    assert later["totals"] == {"needs_action": 2, "escalated": 0, "opened": 0, "resolved": 1, "notifications": 0,
                               "snoozed": 1}

    human = _cli(url, base_settings, "digest", "--owner", "rep-ana")
    assert human.returncode == 0, human.stderr
    text = " ".join(human.stdout.split())
    assert "Alert digest for owner rep-ana" in text
    assert "2 opened, 1 escalated, 1 resolved, 1 need action (1 more snoozed), 1 notifications" in text
    for expected in ("Acme Corp (acme): proposal, open, rep-ana", "warning -> critical",
                     "open 10.0 days, acknowledged by mgr-1", "cannot advance", "after 2.0 days open",
                     "Globex (globex): proposal, open, rep-ana"):
        assert expected in text, (expected, human.stdout)
    nobody = _cli(url, base_settings, "digest", "--owner", "rep-zed")
    assert nobody.returncode == 0 and "nothing needs action" in nobody.stdout
    both = _cli(url, base_settings, "digest", "--owner", "rep-ana", "--team", "emea")
    assert both.returncode == 2 and "not allowed with" in both.stderr
