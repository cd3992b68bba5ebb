"""Static checks of the Docker Compose stack and its Prometheus configuration.

No container engine is needed: ``docker-compose config`` and ``promtool check
config`` only validate files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.helpers import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _environment_names(service: dict) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return set(env)
    return {entry.split("=", 1)[0] for entry in env}


def test_compose_file_is_valid() -> None:
    docker_compose = require_tool("docker-compose")
    result = _run(docker_compose, "-f", str(COMPOSE_FILE), "config", "-q")
    assert result.returncode == 0, (
        f"docker-compose config failed (exit {result.returncode}):\n{result.stderr}"
    )


def test_compose_defines_core_services() -> None:
    config = yaml.safe_load(COMPOSE_FILE.read_text())
    services = config["services"]
    for name in ("kafka", "postgres", "prometheus", "worker"):
        assert name in services, f"service {name!r} missing from docker-compose.yml"
    worker_env = _environment_names(services["worker"])
    assert {"DEALFLOW_KAFKA_BOOTSTRAP", "DEALFLOW_DATABASE_URL"} <= worker_env, (
        worker_env
    )


def test_prometheus_config_is_valid() -> None:
    promtool = require_tool("promtool")
    result = _run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, (
        f"promtool check config failed (exit {result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
