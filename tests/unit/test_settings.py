"""Settings is the one reader of the DEALFLOW_* variables: it reads each of them, with the old
defaults, the README lists them all, and no other module reads one."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from processors.cli.main import main
from processors.config import KafkaSecuritySettings, Settings, SettingsError, Topics
from processors.kafka.security import KafkaSecurity, KafkaSecurityError
from processors.observability.logs import logging_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "processors" / "config.py"
SCANNED = ("processors", "projections", "schemas")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DEALFLOW_* variable of the machine running the tests leaks into them."""
    import os

    for name in [name for name in os.environ if name.startswith("DEALFLOW_")]:
        monkeypatch.delenv(name)


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env()
    assert settings == Settings(state_dir=Path(".dealflow").resolve())
    assert (settings.kafka_bootstrap, settings.partitions, settings.app_id) == ("localhost:9092", 6, "dealflow")
    assert (settings.projector_batch, settings.replication_factor, settings.log_format) == (5000, 1, "text")
    assert (settings.commit_interval, settings.session_timeout) == (2.8, 10.0)
    assert (settings.producer_linger_ms, settings.fetch_bytes) == (0.0, 65536)
    assert settings.kafka_security == KafkaSecuritySettings(protocol="PLAINTEXT", sasl_mechanism="PLAIN")
    assert settings.topics == Topics()


def _security(field: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings.kafka_security, field)


def _topic(field: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings.topics, field)


def _attribute(field: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings, field)


# (variable, value set, how Settings shows it, what it should be)
VARIABLES: list[tuple[str, str, Callable[[Settings], Any], Any]] = [
    ("DEALFLOW_KAFKA_BOOTSTRAP", "k1:9092,k2:9092", _attribute("kafka_bootstrap"), "k1:9092,k2:9092"),
    ("DEALFLOW_DATABASE_URL", "postgresql://u@db/x", _attribute("database_url"), "postgresql://u@db/x"),
    ("DEALFLOW_PLAYBOOK", "my.toml", _attribute("playbook"), "my.toml"),
    ("DEALFLOW_METRICS_PORT", "9465", _attribute("metrics_port"), 9465),
    ("DEALFLOW_METRICS_HOST", "0.0.0.0", _attribute("metrics_host"), "0.0.0.0"),
    ("DEALFLOW_PARTITIONS", "12", _attribute("partitions"), 12),
    ("DEALFLOW_HOME", "/tmp/dealflow-home", _attribute("state_dir"), Path("/tmp/dealflow-home")),
    ("DEALFLOW_APP_ID", "other", _attribute("app_id"), "other"),
    ("DEALFLOW_TICK_SECONDS", "5", _attribute("tick_seconds"), 5.0),
    ("DEALFLOW_STATE_CACHE", "50", _attribute("state_cache_size"), 50),
    ("DEALFLOW_LOG_FORMAT", " JSON ", _attribute("log_format"), "json"),
    ("DEALFLOW_PROJECTOR_BATCH", "250", _attribute("projector_batch"), 250),
    ("DEALFLOW_REPLICATION_FACTOR", "3", _attribute("replication_factor"), 3),
    ("DEALFLOW_COMMIT_INTERVAL", "0.5", _attribute("commit_interval"), 0.5),
    ("DEALFLOW_SESSION_TIMEOUT", "45", _attribute("session_timeout"), 45.0),
    ("DEALFLOW_PRODUCER_LINGER_MS", "20", _attribute("producer_linger_ms"), 20.0),
    ("DEALFLOW_FETCH_BYTES", "1048576", _attribute("fetch_bytes"), 1048576),
    ("DEALFLOW_RUNTIME", " Faust ", _attribute("runtime"), "faust"),
    ("DEALFLOW_TOPIC_ENGAGEMENT", "e", _topic("engagement"), "e"),
    ("DEALFLOW_TOPIC_COMMANDS", "c", _topic("commands"), "c"),
    ("DEALFLOW_TOPIC_EVENTS", "f", _topic("events"), "f"),
    ("DEALFLOW_TOPIC_ALERTS", "a", _topic("alerts"), "a"),
    ("DEALFLOW_TOPIC_DEADLETTER", "d", _topic("deadletter"), "d"),
    ("DEALFLOW_TOPIC_STAYS", "s", _topic("stays"), "s"),
    ("DEALFLOW_KAFKA_SECURITY_PROTOCOL", "sasl_ssl", _security("protocol"), "SASL_SSL"),
    ("DEALFLOW_KAFKA_SASL_MECHANISM", "scram-sha-512", _security("sasl_mechanism"), "SCRAM-SHA-512"),
    ("DEALFLOW_KAFKA_SASL_USERNAME", " alice ", _security("username"), "alice"),
    ("DEALFLOW_KAFKA_SASL_PASSWORD", " s3cret ", _security("password"), " s3cret "),  # as given
    ("DEALFLOW_KAFKA_SSL_CAFILE", "/ca.pem", _security("cafile"), "/ca.pem"),
    ("DEALFLOW_KAFKA_SSL_CERTFILE", "/cert.pem", _security("certfile"), "/cert.pem"),
    ("DEALFLOW_KAFKA_SSL_KEYFILE", "/key.pem", _security("keyfile"), "/key.pem"),
]


@pytest.mark.parametrize(("name", "value", "shown", "expected"), VARIABLES, ids=[v[0] for v in VARIABLES])
def test_settings_reads_each_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                      shown: Callable[[Settings], Any], expected: Any) -> None:
    assert shown(Settings.from_env()) != expected  # the default is something else: the variable matters
    monkeypatch.setenv(name, value)
    assert shown(Settings.from_env()) == expected


def test_special_cases_keep_their_old_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALFLOW_TICK_SECONDS", "600")
    monkeypatch.setenv("DEALFLOW_REPLICATION_FACTOR", "0")
    monkeypatch.setenv("DEALFLOW_KAFKA_BOOTSTRAP", "  ")
    settings = Settings.from_env()
    assert settings.tick_seconds == 60.0  # at most a minute
    assert settings.replication_factor == 1  # 0 meant the default
    assert settings.kafka_bootstrap == "localhost:9092"  # blank is unset


@pytest.mark.parametrize("name, value", [("DEALFLOW_PARTITIONS", "six"), ("DEALFLOW_TICK_SECONDS", "30s"),
                                         ("DEALFLOW_METRICS_PORT", "9464.5")])
def test_a_bad_number_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name} must be a .*number, got '{value}'"):
        Settings.from_env()


def test_the_command_line_reports_a_bad_variable_without_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEALFLOW_PARTITIONS", "six")
    assert main(["topics"]) == 2
    assert "DEALFLOW_PARTITIONS must be a whole number, got 'six'" in capsys.readouterr().err


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("DEALFLOW_KAFKA_SASL_USERNAME", "alice")
    monkeypatch.setenv("DEALFLOW_KAFKA_SASL_PASSWORD", "hunter2-secret")
    settings = Settings.from_env()
    security = KafkaSecurity.from_settings(settings.kafka_security)
    for text in (repr(settings), str(settings), repr(security), security.describe()):
        assert "hunter2-secret" not in text
    assert "alice" in security.describe()
    assert security.client_options()["sasl_plain_password"] == "hunter2-secret"  # but it is used


def test_security_is_validated_when_used_not_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DEALFLOW_KAFKA_SASL_PASSWORD", "hunter2-secret")
    settings = Settings.from_env()  # commands without Kafka (backtest, contract) still run
    with pytest.raises(KafkaSecurityError, match="DEALFLOW_KAFKA_SASL_USERNAME") as raised:
        KafkaSecurity.from_settings(settings.kafka_security)
    assert "hunter2-secret" not in str(raised.value)
    monkeypatch.setenv("DEALFLOW_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(KafkaSecurityError, match="use one of"):
        KafkaSecurity.from_settings(Settings.from_env().kafka_security)


def test_the_log_format_is_passed_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALFLOW_LOG_FORMAT", "text")
    assert logging_config("info", "json")["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert logging_config("info", Settings.from_env().log_format)["formatters"]["default"]["()"].endswith(
        "RedactingFormatter")


# --- the README's Configuration table -------------------------------------------------------------

def _read_by_config() -> set[str]:
    return set(re.findall(r'"(DEALFLOW_[A-Z_]+)"', CONFIG.read_text()))


def _listed_in_readme() -> set[str]:
    """Variables of the README's Configuration table (``_SSL_CERTFILE`` style shorthands expanded)."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `DEALFLOW_"):
            continue
        cell = line.split("|")[1]
        full, *short = re.findall(r"`(_?[A-Z_]+)`", cell)
        names.add(full)
        for suffix in short:
            if suffix.startswith("DEALFLOW_"):
                names.add(suffix)
                continue
            parts, first = full.split("_"), suffix.split("_")[1]
            prefix = parts[:parts.index(first)] if first in parts else parts[:-1]
            names.add("_".join(prefix) + suffix)
    return names


def test_readme_lists_every_variable_and_only_those() -> None:
    read, listed = _read_by_config(), _listed_in_readme()
    assert "DEALFLOW_KAFKA_SSL_KEYFILE" in read and "DEALFLOW_TOPIC_DEADLETTER" in listed
    assert read - listed == set(), "variables Settings reads but README's Configuration does not list"
    assert listed - read == set(), "variables README's Configuration lists but Settings does not read"


# --- nobody else reads them -----------------------------------------------------------------------

def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _looks_like_dealflow(key: ast.AST) -> bool:
    """A DEALFLOW_ name, or a name computed at run time (which could be one)."""
    if isinstance(key, ast.Constant):
        return isinstance(key.value, str) and key.value.startswith("DEALFLOW_")
    return True


def env_reads(source: str) -> list[int]:
    """Line numbers where ``source`` reads a DEALFLOW_ variable (``os.environ.get``, ``[...]``,
    ``getenv``, ``in os.environ``); passing the environment on (``os.environ.copy()``) is no read."""
    found: list[int] = []
    for node in ast.walk(ast.parse(source)):
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") and _is_environ(
                    func.value):
                key = node.args[0]
            elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                    isinstance(func, ast.Name) and func.id == "getenv"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(
                _is_environ(c) for c in node.comparators):
            key = node.left
        if key is not None and _looks_like_dealflow(key):
            found.append(node.lineno)
    return sorted(found)


@pytest.mark.parametrize("source", [
    'import os\nos.environ.get("DEALFLOW_X", "1")',
    'import os\nvalue = os.getenv("DEALFLOW_X")',
    'import os\nvalue = os.environ["DEALFLOW_X"]',
    'import os\nif "DEALFLOW_X" in os.environ: pass',
    'from os import environ\nname = "X"\nenviron.get(f"DEALFLOW_{name}", "")',
    'import os\nos.environ.get(\n    "DEALFLOW_X",\n    "1",\n)',
])
def test_the_scan_finds_a_read(source: str) -> None:
    assert env_reads(source) != []


@pytest.mark.parametrize("source", [
    'import os\nsubprocess.run(["x"], env=os.environ.copy())',
    'import os\nenv = os.environ | {"DEALFLOW_METRICS_PORT": "0"}',
    'import os\nos.environ.get("CI", "")',
    'text = "set DEALFLOW_METRICS_PORT, or 0 for any free port"',
])
def test_the_scan_leaves_other_uses_alone(source: str) -> None:
    assert env_reads(source) == []


def test_only_config_reads_dealflow_variables() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for top in SCANNED for path in sorted((ROOT / top).rglob("*.py"))
        if path != CONFIG and (lines := env_reads(path.read_text()))
    }
    assert offenders == {}, "read DEALFLOW_* variables in processors/config.py (Settings) and pass the values down"
    assert env_reads(CONFIG.read_text()) != []  # the scan does see config.py's reads
