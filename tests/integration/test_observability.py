"""Observability: the shipped Prometheus config and rules, the Grafana dashboards, and a real
Prometheus scraping a real worker.

* `promtool check config` / `check rules` on `deploy/prometheus/`, and `promtool test rules` on
  synthetic series: every service alert fires when it should and stays quiet when it should not.
* Every panel query of `deploy/grafana/dashboards/dealflow-pipeline.json` runs against a fresh
  database with all migrations applied and a few rows in it.
* A worker (processors + projector) consumes the sample stream while a real `prometheus` process
  scrapes it every second; the expected series show up with sensible values through Prometheus's
  HTTP API, the shipped rules evaluate without error, and every PromQL expression of
  `deploy/grafana/dashboards/dealflow-operations.json` is accepted. `/healthz`, `/readyz`, JSON logs
  and password redaction are checked on the same worker.

HTTP goes through the standard library only (urllib, proxies disabled: everything is on 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from processors.config import Settings
from processors.kafka.clients import produce
from processors.observability.logs import redact
from processors.tools.sample import sample_stream
from tests.helpers import require_tool
from tests.integration.support import REPO_ROOT, WorkerProcess, isolated, wait_for

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_FILE = PROMETHEUS_DIR / "rules" / "dealflow.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
PIPELINE_DASHBOARD = DASHBOARDS / "dealflow-pipeline.json"
OPERATIONS_DASHBOARD = DASHBOARDS / "dealflow-operations.json"
DATASOURCES = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"

SERVICE_ALERTS = ("DealflowWorkerDown", "DealflowConsumerLagGrowing", "DealflowDeadLettersSpiking",
                  "DealflowProjectionLatencyHigh")
TIME_FILTER = re.compile(r"\$__timeFilter\(\s*[A-Za-z_][A-Za-z0-9_.:]*\s*\)")

# Everything talks to 127.0.0.1: never through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with _HTTP.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _targets(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every query target of a dashboard."""
    dashboard = json.loads(path.read_text())
    return [(panel["title"], target) for panel in _panels(dashboard) for target in panel.get("targets", [])]


# --------------------------------------------------------------------------- static checks


def test_promtool_check_config() -> None:
    promtool = require_tool("promtool")
    result = _run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, f"promtool check config failed:\n{result.stdout}\n{result.stderr}"
    # The config loads the rules: promtool reports the rule files it found.
    assert "1 rule files found" in result.stdout + result.stderr, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool")
    result = _run(promtool, "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}\n{result.stderr}"


def test_prometheus_config_scrapes_worker_and_projector_and_loads_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
            for job in config["scrape_configs"]}
    assert jobs["dealflow-worker"] == ["worker:9464"]
    assert jobs["dealflow-projector"] == ["projector:9465"]
    assert config["rule_files"] == ["rules/*.yml"]
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in mounts, mounts


def test_service_alerts_have_severity_and_annotations() -> None:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}
    assert set(SERVICE_ALERTS) <= set(alerts), sorted(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), name
        assert rule.get("for"), f"{name} has no `for:` duration (it would fire on one bad scrape)"


def _series(name: str, values: str) -> dict[str, str]:
    return {"series": name, "values": values}


def _firing(alert: str, at: str, *labels: dict[str, str]) -> dict[str, Any]:
    """A promql_expr_test: exactly these firing instances of ``alert`` at ``at`` (none when no labels).

    The ALERTS series is compared instead of alert_rule_test so the annotation wording is not frozen here.
    """
    samples = [{"labels": "ALERTS{" + ", ".join(f'{k}="{v}"' for k, v in
                                              {"alertname": alert, "alertstate": "firing", **extra}.items()) + "}",
                "value": 1} for extra in labels]
    return {"expr": f'ALERTS{{alertname="{alert}", alertstate="firing"}}', "eval_time": at, "exp_samples": samples}


def test_alert_rules_fire_on_synthetic_series(tmp_path: Path) -> None:
    """`promtool test rules`: each service alert fires after its `for:` and not on healthy series."""
    promtool = require_tool("promtool")
    buckets = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300",
               "3600", "86400", "+Inf")
    slow = [_series(f'dealflow_projection_latency_seconds_bucket{{job="dealflow-worker", le="{le}"}}',
                    "0+10x40" if le in ("60", "300", "3600", "86400", "+Inf") else "0x40") for le in buckets]
    fast = [_series(f'dealflow_projection_latency_seconds_bucket{{job="dealflow-projector", le="{le}"}}',
                    "0x40" if le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25") else "0+10x40")
            for le in buckets]
    tests = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    _series('up{job="dealflow-worker", instance="worker:9464"}', "1 1 0 0 0 0 0 0"),
                    _series('up{job="dealflow-projector", instance="projector:9465"}', "1x8"),
                    _series('up{job="node", instance="other:9100"}', "0x8"),
                ],
                "promql_expr_test": [
                    _firing("DealflowWorkerDown", "3m"),  # down for 1m only: pending
                    _firing("DealflowWorkerDown", "5m",
                            {"instance": "worker:9464", "job": "dealflow-worker", "severity": "critical"}),
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    # The projector's lag grows by 300 a minute over two partitions.
                    _series('dealflow_consumer_lag_messages{consumer="projector", topic="e", partition="0"}',
                            "0+200x40"),
                    _series('dealflow_consumer_lag_messages{consumer="projector", topic="e", partition="1"}',
                            "0+100x40"),
                    # The processors have a large but steady lag: no alert.
                    _series('dealflow_consumer_lag_messages{consumer="worker", topic="c", partition="0"}', "5000x40"),
                ],
                "promql_expr_test": [
                    {"expr": "dealflow:consumer_lag_messages:sum", "eval_time": "10m", "exp_samples": [
                        {"labels": 'dealflow:consumer_lag_messages:sum{consumer="projector"}', "value": 3000},
                        {"labels": 'dealflow:consumer_lag_messages:sum{consumer="worker"}', "value": 5000}]},
                    _firing("DealflowConsumerLagGrowing", "10m"),
                    _firing("DealflowConsumerLagGrowing", "25m", {"consumer": "projector", "severity": "warning"}),
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    _series('dealflow_dead_letters_total{reason="malformed_json"}', "0+60x20"),  # 1 a second
                    _series('dealflow_dead_letters_total{reason="invalid_field"}', "0+1x20"),  # 1 a minute
                ],
                "promql_expr_test": [
                    {"expr": "dealflow:dead_letters:rate5m", "eval_time": "10m", "exp_samples": [
                        {"labels": 'dealflow:dead_letters:rate5m{reason="malformed_json"}', "value": 1},
                        {"labels": 'dealflow:dead_letters:rate5m{reason="invalid_field"}', "value": 1 / 60}]},
                    _firing("DealflowDeadLettersSpiking", "3m"),
                    _firing("DealflowDeadLettersSpiking", "10m", {"reason": "malformed_json", "severity": "warning"}),
                ],
            },
            {
                "interval": "1m",
                "input_series": slow + fast,
                "promql_expr_test": [
                    _firing("DealflowProjectionLatencyHigh", "8m"),
                    _firing("DealflowProjectionLatencyHigh", "20m", {"job": "dealflow-worker", "severity": "warning"}),
                ],
            },
        ],
    }
    test_file = tmp_path / "dealflow-rules-test.yml"
    test_file.write_text(json.dumps(tests, indent=1))  # JSON is YAML
    result = _run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}\n{result.stderr}"


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
                                        owner_id)
                    VALUES ('a1', 'd-globex', 'gate.rejected', 'warning', 'raised', now() - interval '25 days',
                            NULL, 'discovery', 'rep-ben'),
                           ('a2', 'd-initech', 'deal.stalled', 'warning', 'raised', now() - interval '2 days',
                            NULL, 'qualification', 'rep-ben'),
                           ('a3', 'd-acme', 'deal.inactive', 'info', 'resolved', now() - interval '12 days',
                            now() - interval '11 days', 'qualification', 'rep-ana')""")
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


# --------------------------------------------------------------------------- a real Prometheus


class Prometheus:
    """A `prometheus` server on 127.0.0.1 scraping one target every second, with the shipped rules."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [{"job_name": "dealflow-worker",
                                "static_configs": [{"targets": [target], "labels": {"service": "dealflow"}}]}],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=1))
        self.log_path = workdir / "prometheus.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config_path}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        status, body = _get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=10)
        if status == 0:
            return {"status": "error", "error": "no answer"}
        return json.loads(body)  # type: ignore[no-any-return]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` (empty on any error)."""
        answer = self.api("query", query=expr)
        return answer["data"]["result"] if answer.get("status") == "success" else []  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def _with_password(url: str, password: str) -> str | None:
    """``url`` with ``password`` added to its user, or None when it has one or no user."""
    parts = urllib.parse.urlsplit(url)
    if not parts.username or parts.password is not None:
        return None
    netloc = f"{parts.username}:{password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _database_password(url: str) -> str | None:
    return urllib.parse.urlsplit(url).password


def _usable_password_url(settings: Settings) -> Settings:
    """Give the worker a database URL with a password when the server accepts it (trust auth ignores it),
    so the log check below has a real secret to look for."""
    if _database_password(settings.database_url):
        return settings
    url = _with_password(settings.database_url, f"obs-secret-{uuid.uuid4().hex[:12]}")
    if url is None:
        return settings
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return settings  # password authentication with a .pgpass: keep the URL as it is
    return dataclasses.replace(settings, database_url=url)


def _wait(check: Callable[[], Any], what: str, worker: WorkerProcess, prometheus: Prometheus | None = None,
          timeout: float = 90.0) -> Any:
    try:
        return wait_for(check, timeout=timeout, what=what, worker=worker)
    except pytest.fail.Exception as exc:
        if prometheus is None:
            raise
        message = f"{exc}\nprometheus log:\n{prometheus.output()}"
    pytest.fail(message, pytrace=False)


def test_real_prometheus_scrapes_the_worker(base_settings: Settings, tmp_path: Path) -> None:
    prometheus_bin = require_tool("prometheus")
    metrics_port = _free_port()
    run = f"-obs{uuid.uuid4().hex[:6]}"
    messages = sample_stream(datetime.now(timezone.utc), run)
    with isolated(base_settings, metrics_port=metrics_port, tick_seconds=2.0) as fresh:
        settings = _usable_password_url(fresh)
        metrics = f"http://127.0.0.1:{metrics_port}"
        worker = WorkerProcess(settings, tmp_path / "worker.log", extra_env={"DEALFLOW_LOG_FORMAT": "json"})
        prometheus: Prometheus | None = None
        try:
            _wait(lambda: _get(f"{metrics}/healthz")[0] == 200, "the worker's /healthz", worker, timeout=60)
            prometheus = Prometheus(prometheus_bin, tmp_path, f"127.0.0.1:{metrics_port}")
            prom = prometheus
            _wait(lambda: _get(f"{prom.url}/-/ready")[0] == 200, "Prometheus to be ready", worker, prom, timeout=60)

            # Traffic: the sample stream (six deals, refused stage changes, two broken messages).
            assert produce(settings.kafka_bootstrap, settings.topics, messages) == len(messages)

            def value_at_least(expr: str, minimum: float) -> Callable[[], float | None]:
                def check() -> float | None:
                    value = prom.value(expr)
                    return value if value is not None and value >= minimum else None
                return check

            expectations = [
                ('up{job="dealflow-worker"}', 1),
                ('sum(dealflow_messages_consumed_total{topic="commands", type="deal.create"})', 1),
                ('sum(dealflow_messages_consumed_total{topic="engagement"})', 1),
                ("sum(dealflow_messages_consumed_total)", len(messages)),
                ('sum(dealflow_dead_letters_total{reason="malformed_json"})', 1),
                ("sum(dealflow_dead_letters_total)", 2),
                ('sum(dealflow_gate_decisions_total{outcome="refused"})', 1),
                ('sum(dealflow_gate_decisions_total{outcome="accepted"})', 1),
                ("count(dealflow_alerts_total)", 1),
                ('sum(dealflow_facts_total{type="deal.created"})', 1),
                ("sum(dealflow_processing_latency_seconds_count)", 1),
                ("sum(dealflow_projection_latency_seconds_count)", 1),
                ("sum(dealflow_projector_batch_size_count)", 1),
                ("sum(dealflow_projector_commit_duration_seconds_count)", 1),
                ('count(dealflow_consumer_lag_messages{consumer="worker"})', 1),
                ('count(dealflow_consumer_lag_messages{consumer="projector"})', 1),
                ("sum(dealflow_open_deals)", 1),
                ("sum(dealflow_open_alerts)", 1),
                ("count(dealflow_deadline_index_deals)", 1),
                ("sum(dealflow_deadline_round_seconds_count)", 1),
                ("count(dealflow:messages_consumed:rate5m)", 1),  # a recording rule of the shipped file
            ]
            for expr, minimum in expectations:
                _wait(value_at_least(expr, minimum), f"Prometheus to report {expr} >= {minimum}", worker, prom)

            # Exact and sensible values once everything was handled.
            assert prom.value("sum(dealflow_messages_consumed_total)") == len(messages)
            assert prom.value("sum(dealflow_dead_letters_total)") == 2
            invalid = prom.value('sum(dealflow_messages_consumed_total{type="invalid"})')  # at least the malformed one
            assert invalid is not None and 1 <= invalid <= 2, invalid
            refused = prom.value('sum(dealflow_gate_decisions_total{outcome="refused"})')
            rejected = prom.value('sum(dealflow_facts_total{type="command.rejected"})')
            assert refused is not None and rejected is not None and 1 <= refused <= rejected, (refused, rejected)
            assert {r["metric"]["status"] for r in prom.query("dealflow_alerts_total")} >= {"raised"}
            assert {r["metric"]["severity"] for r in prom.query("dealflow_alerts_total")} <= {
                "info", "warning", "critical"}
            # The sample's events are 0 to 30 days old: processing latency is event-time based.
            mean = prom.value("sum(dealflow_processing_latency_seconds_sum) / "
                              "sum(dealflow_processing_latency_seconds_count)")
            assert mean is not None and mean > 60, mean
            # Projection is local and quick: produced to committed well under a minute on average.
            mean = prom.value("sum(dealflow_projection_latency_seconds_sum) / "
                              "sum(dealflow_projection_latency_seconds_count)")
            assert mean is not None and 0 <= mean < 60, mean
            _wait(lambda: prom.value('sum(dealflow_consumer_lag_messages{consumer="projector"})') == 0,
                  "the projector's lag to drop to 0", worker, prom)
            assert {r["metric"]["stage"] for r in prom.query("dealflow_open_deals")} <= {
                "discovery", "qualification", "proposal", "negotiation", "closing", "nurture"}
            for labels in (r["metric"] for r in prom.query('{__name__=~"dealflow_.*"}')):
                assert not any(run in value for value in labels.values()), f"an id leaked into a label: {labels}"

            # The shipped rules evaluate without error on real series.
            def rules_healthy() -> list[dict[str, Any]] | None:
                answer = prom.api("rules")
                if answer.get("status") != "success":
                    return None
                rules = [rule for group in answer["data"]["groups"] for rule in group["rules"]]
                return rules if rules and all(rule.get("health") == "ok" for rule in rules) else None

            rules = _wait(rules_healthy, "every shipped rule to be evaluated with health ok", worker, prom, 60)
            assert {rule["name"] for rule in rules} >= set(SERVICE_ALERTS)
            assert not [r["name"] for r in rules if r["type"] == "alerting" and r["state"] == "firing"]

            # Every PromQL expression of the operations dashboard is accepted (an empty result is fine).
            now = time.time()
            errors, with_data = [], 0
            for title, target in _targets(OPERATIONS_DASHBOARD):
                expr = target["expr"]
                if target.get("instant"):
                    answer = prom.api("query", query=expr, time=now)
                else:
                    answer = prom.api("query_range", query=expr, start=now - 300, end=now, step=5)
                if answer.get("status") != "success":
                    errors.append(f"{title!r}: {expr}\n  {answer.get('errorType')}: {answer.get('error')}")
                elif answer["data"]["result"]:
                    with_data += 1
            assert not errors, "operations dashboard queries rejected by Prometheus:\n" + "\n".join(errors)
            assert with_data >= len(_targets(OPERATIONS_DASHBOARD)) // 2, "most panels should show data by now"

            # Health endpoints of the same worker.
            status, body = _get(f"{metrics}/healthz")
            assert status == 200 and json.loads(body) == {"status": "alive"}, (status, body)
            status, _ = _get(f"{metrics}/nothing-here")
            assert status == 404
            last: list[tuple[int, bytes]] = []

            def ready() -> bool:
                last[:] = [_get(f"{metrics}/readyz", timeout=15)]
                return last[0][0] == 200

            deadline = time.monotonic() + 30
            while not ready() and time.monotonic() < deadline:
                time.sleep(1)
            readiness = last[0]  # asserted last, so a readiness problem does not hide the log checks
        finally:
            if prometheus is not None:
                prometheus.stop()
            worker.stop()

        # Logs: JSON lines with the usual keys, and never the database password.
        log_text = worker.log_path.read_text(errors="replace")
        entries = []
        for line in log_text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        assert any(e.get("message", "").startswith("metrics and health on http://127.0.0.1:") for e in entries), (
            f"no JSON log line announcing the metrics endpoint:\n{log_text[-3000:]}")
        assert all({"time", "level", "logger", "message"} <= set(e) for e in entries if "logger" in e)
        password = _database_password(settings.database_url)
        if password:
            assert password not in log_text, "the database password appears in the worker's log"
    assert "secret" not in redact("connecting to postgresql://u:secret@h/db failed")
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    status, body = readiness
    assert status == 200, f"/readyz answered {status}: {body.decode(errors='replace')}"
    assert json.loads(body) == {"status": "ready", "kafka": "ok", "database": "ok"}, body
