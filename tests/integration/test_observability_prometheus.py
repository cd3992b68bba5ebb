"""The shipped Prometheus setup, checked without a running server: `promtool check config` and
`check rules` on `deploy/prometheus/`, the scrape jobs and the rules mount of docker-compose, the
labels and annotations of every alert, and `promtool test rules` on synthetic series: every service
alert fires when it should and stays quiet when it should not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import require_tool
from tests.integration.observability_support import PROMETHEUS_CONFIG, RULES_FILE, SERVICE_ALERTS
from tests.integration.support import REPO_ROOT


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


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
