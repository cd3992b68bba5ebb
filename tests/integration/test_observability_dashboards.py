"""The shipped Grafana dashboards and datasources: both dashboards are well formed, the datasources
have the uids the panels use, the operations dashboard has a panel for every metric, and every panel
query of `deploy/grafana/dashboards/dealflow-pipeline.json` runs against a fresh database with all
migrations applied and a few rows in it. (The operations dashboard's PromQL is run against a real
Prometheus in ``test_observability_metrics.py``.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from processors.config import Settings
from tests.integration.observability_support import (
    DATASOURCES,
    OPERATIONS_DASHBOARD,
    PIPELINE_DASHBOARD,
    _panels,
    _targets,
)
from tests.integration.support import isolated

TIME_FILTER = re.compile(r"\$__timeFilter\(\s*[A-Za-z_][A-Za-z0-9_.:]*\s*\)")


# --------------------------------------------------------------------------- static checks


def test_datasources_have_the_uids_the_dashboards_use() -> None:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert {source["type"]: source["uid"] for source in sources} == {"prometheus": "prometheus", "postgres": "postgres"}


@pytest.mark.parametrize("path,datasource", [(PIPELINE_DASHBOARD, "postgres"), (OPERATIONS_DASHBOARD, "prometheus")],
                         ids=["pipeline", "operations"])
def test_dashboard_is_well_formed(path: Path, datasource: str) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == path.stem and dashboard["title"].startswith("Dealflow")
    assert dashboard.get("id") is None, "an exported dashboard must not carry a database id"
    panels = list(_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    queries = [panel for panel in panels if panel["type"] != "row"]
    assert len(queries) >= 10
    for panel in queries:
        title = panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, title
        assert panel["datasource"] == {"type": datasource, "uid": datasource}, title
        assert panel["targets"], f"panel {title!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource, title
            if datasource == "postgres":
                assert target["rawQuery"] is True and target["format"] in ("table", "time_series"), title
                _check_sql_text(title, target["rawSql"])
            else:
                assert target["expr"].strip() and "$" not in target["expr"], (
                    f"{title!r}: PromQL must not use Grafana variables (it is run as is by a test)")


def _check_sql_text(title: str, sql: str) -> None:
    rest = TIME_FILTER.sub("true", sql)
    assert "$" not in rest, f"{title!r}: only $__timeFilter(column) may be used as a Grafana macro:\n{sql}"


def test_operations_dashboard_covers_every_metric() -> None:
    """Each metric of processors/observability/metrics.py appears in at least one operations panel."""
    from prometheus_client import REGISTRY

    import processors.observability.metrics  # noqa: F401 - registers the metrics

    exprs = " ".join(target["expr"] for _, target in _targets(OPERATIONS_DASHBOARD))
    names = {metric.name for metric in REGISTRY.collect() if metric.name.startswith("dealflow_")}
    assert len(names) >= 14
    missing = sorted(name for name in names if not re.search(rf"\b{re.escape(name)}(_total|_bucket|_count|_sum)?\b",
                                                              exprs))
    assert not missing, f"metrics without a panel: {missing}"


# --------------------------------------------------------------------------- pipeline SQL


def _seed_projection(conn: psycopg.Connection[Any]) -> None:
    """A small, consistent pipeline: every panel of the pipeline dashboard has something to show."""
    deals = [
        # deal_id, owner, amount, stage, status, days ago created, days ago entered stage, close in days
        ("d-acme", "rep-ana", 48000, "proposal", "open", 40, 10, 5),
        ("d-globex", "rep-ben", 12000, "discovery", "open", 30, 30, 40),
        ("d-initech", "rep-ben", 90000, "qualification", "open", 60, 45, 20),
        ("d-hooli", "rep-cy", 150000, "closing", "won", 50, 5, 10),
        ("d-umbrella", "rep-cy", 300000, "discovery", "disqualified", 35, 20, 30),
        ("d-nocorp", None, None, "negotiation", "open", 20, 3, -2),
    ]
    for deal_id, owner, amount, stage, status, created, entered, close in deals:
        conn.execute(
            """INSERT INTO deals (deal_id, name, owner_id, amount, stage, status, stage_entered_at, close_date,
                                  next_step_description, next_step_due, missing_criteria, created_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, now() - make_interval(days => %s), current_date + %s,
                       'Call the buyer', current_date + 3, %s, now() - make_interval(days => %s), now())""",
            (deal_id, f"Deal {deal_id}", owner, amount, stage, status, entered, close,
             ["budget_confirmed", "pain_documented"] if status == "open" else [], created))
    history = [
        # deal, from, to, kind, days ago, days in from stage, reason
        ("d-acme", "discovery", "qualification", "advance", 30, 10, None),
        ("d-acme", "qualification", "proposal", "advance", 10, 20, None),
        ("d-initech", "discovery", "qualification", "advance", 50, 10, None),
        ("d-initech", "qualification", "discovery", "regress", 48, 2, "decision_maker_pushback"),
        ("d-initech", "discovery", "qualification", "advance", 45, 3, None),
        ("d-hooli", "discovery", "closing", "advance", 20, 30, None),
        ("d-hooli", "closing", "won", "won", 5, 15, None),
        ("d-umbrella", "discovery", "disqualified", "disqualify", 20, 15, "chose_competitor"),
    ]
    for n, (deal_id, from_stage, to_stage, kind, ago, days, reason) in enumerate(history):
        conn.execute(
            """INSERT INTO stage_history (event_id, deal_id, from_stage, to_stage, kind, reason, changed_at,
                                          days_in_from_stage)
               VALUES (%s, %s, %s, %s, %s, %s, now() - make_interval(days => %s), %s)""",
            (f"h{n}", deal_id, from_stage, to_stage, kind, reason, ago, days))
        if kind in ("advance", "regress"):
            conn.execute("INSERT INTO stage_entries VALUES (%s, %s, %s, now() - make_interval(days => %s), %s)",
                         (f"e{n}", deal_id, to_stage, ago, kind))
    for deal_id, _, _, _, _, created, _, _ in deals:
        conn.execute("""INSERT INTO stage_entries VALUES (%s, %s, 'discovery', now() - make_interval(days => %s),
                        'created')""", (f"c-{deal_id}", deal_id, created))
    conn.execute("""INSERT INTO gate_rejections (event_id, deal_id, command_type, requested, reason, message,
                                                 missing_criteria, stage, owner_id, rejected_at)
                    VALUES ('r1', 'd-globex', 'stage.change', '{"target": "proposal"}', 'criteria_missing',
                            'missing criteria', '{budget_confirmed,pain_documented}', 'discovery', 'rep-ben',
                            now() - interval '25 days'),
                           ('r2', 'd-acme', 'stage.change', '{"target": "qualification"}', 'criteria_missing',
                            'missing criteria', '{timeline_committed}', 'discovery', 'rep-ana',
                            now() - interval '35 days')""")
    conn.execute("""INSERT INTO alerts (alert_id, deal_id, type, severity, status, raised_at, resolved_at, stage,
                                        owner_id, kind)
                    VALUES ('a1', 'd-globex', 'gate.rejected', 'warning', 'raised', now() - interval '25 days',
                            NULL, 'discovery', 'rep-ben', 'notification'),
                           ('a2', 'd-initech', 'deal.stalled', 'warning', 'raised', now() - interval '2 days',
                            NULL, 'qualification', 'rep-ben', 'condition'),
                           ('a3', 'd-acme', 'deal.inactive', 'info', 'resolved', now() - interval '12 days',
                            now() - interval '11 days', 'qualification', 'rep-ana', 'condition')""")
    conn.execute("""INSERT INTO close_date_changes VALUES
                    ('cd1', 'd-acme', NULL, current_date + 1, now() - interval '40 days'),
                    ('cd2', 'd-acme', current_date + 1, current_date + 5, now() - interval '5 days'),
                    ('cd3', 'd-initech', current_date + 30, current_date + 20, now() - interval '3 days')""")
    conn.execute("""INSERT INTO evidence (event_id, deal_id, criterion, kind, reference, recorded_by, recorded_at,
                                          source_event_id)
                    VALUES ('ev1', 'd-acme', 'budget_confirmed', 'email', 'mail/1', 'rep-ana',
                            now() - interval '35 days', 'm1')""")
    conn.execute("""INSERT INTO engagement VALUES ('en1', 'd-acme', 'email.replied', 'acme-cfo',
                    now() - interval '3 days', true, true, false)""")
    conn.execute("""INSERT INTO blockers (blocker_id, deal_id, code, stall_point, stage, description, identified_by,
                                          identified_at, resolution_owner, resolution_action, due_date, status)
                    VALUES ('b1', 'd-acme', 'information_gap', 'proposal_no_feedback', 'proposal', 'No feedback',
                            'mgr-eve', now() - interval '9 days', 'rep-ana', 'Review with the CFO',
                            current_date - 2, 'open'),
                           ('b2', 'd-initech', 'risk_aversion', NULL, 'qualification', 'Cold feet', 'mgr-eve',
                            now() - interval '2 days', 'rep-ben', 'Reference call', current_date + 5, 'open')""")
    conn.execute("""INSERT INTO forecast_snapshots (as_of, period, period_kind, scope, model, closed_deals, won_to_date,
                                                    expected, baseline, commit, best_case, pipeline, open_deals)
                    SELECT now() - interval '3 days',
                           to_char(now() AT TIME ZONE 'UTC', 'YYYY-"Q"Q'), 'quarter', 'all', 'evidence', 2,
                           150000, 190000, 201000, 48000, 90000, 12000, 4""")


def test_pipeline_dashboard_sql_runs_on_the_projection_schema(base_settings: Settings) -> None:
    targets = [(title, target) for title, target in _targets(PIPELINE_DASHBOARD) if "rawSql" in target]
    assert len(targets) >= 15
    with isolated(base_settings) as settings:
        with psycopg.connect(settings.database_url) as conn:
            _seed_projection(conn)
        failures, empty = [], []
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '20s'")
            conn.execute("SET default_transaction_read_only = on")  # panel queries must only read
            for title, target in targets:
                sql = TIME_FILTER.sub("true", target["rawSql"])
                try:
                    cur = conn.execute(sql)  # type: ignore[call-overload]
                    rows = cur.fetchall()
                    columns = [(column.name, column.type_code) for column in cur.description or []]
                except psycopg.Error as exc:
                    failures.append(f"{title!r}: {type(exc).__name__}: {exc}\n{sql}")
                    continue
                if not rows:
                    empty.append(title)
                if target["format"] == "time_series":
                    names = [name for name, _ in columns]
                    if "time" not in names or dict(columns)["time"] != conn.adapters.types["timestamptz"].oid:
                        failures.append(f"{title!r}: a time_series query needs a timestamptz column `time`, "
                                        f"got {names}")
    assert not failures, "pipeline dashboard queries failed:\n\n" + "\n\n".join(failures)
    assert not empty, f"panels without rows on a seeded projection (a wrong join or filter?): {empty}"
