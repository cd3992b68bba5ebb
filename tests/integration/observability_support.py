"""What the observability tests share: the shipped Prometheus and Grafana files they check, the
service alerts the rules must define, and the query targets of a Grafana dashboard.

Plain constants and functions only (no fixtures); the tests are in ``test_observability_*.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.support import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_FILE = PROMETHEUS_DIR / "rules" / "dealflow.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
PIPELINE_DASHBOARD = DASHBOARDS / "dealflow-pipeline.json"
OPERATIONS_DASHBOARD = DASHBOARDS / "dealflow-operations.json"
DATASOURCES = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml"

SERVICE_ALERTS = ("DealflowWorkerDown", "DealflowConsumerLagGrowing", "DealflowDeadLettersSpiking",
                  "DealflowProjectionLatencyHigh")


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _targets(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every query target of a dashboard."""
    dashboard = json.loads(path.read_text())
    return [(panel["title"], target) for panel in _panels(dashboard) for target in panel.get("targets", [])]
