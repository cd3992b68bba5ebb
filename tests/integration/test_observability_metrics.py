"""A real Prometheus scraping a real worker: a worker (processors + projector) consumes the sample
stream while a `prometheus` process scrapes it every second; the expected series show up with
sensible values through Prometheus's HTTP API, the shipped rules evaluate without error, and every
PromQL expression of `deploy/grafana/dashboards/dealflow-operations.json` is accepted. `/healthz`,
`/readyz`, JSON logs and password redaction are checked on the same worker.

HTTP goes through the standard library only (urllib, proxies disabled: everything is on 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from processors.config import Settings
from processors.kafka.clients import produce
from processors.observability.logs import redact
from processors.tools.sample import sample_stream
from tests.helpers import require_tool
from tests.integration.observability_support import OPERATIONS_DASHBOARD, RULES_FILE, SERVICE_ALERTS, _targets
from tests.integration.support import WorkerProcess, isolated, wait_for

# Everything talks to 127.0.0.1: never through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
