"""Structured logs: one JSON object per line, with deal and event ids, and never a secret."""

from __future__ import annotations

import json
import logging

from processors.observability.logs import JsonFormatter, RedactingFormatter, logging_config, redact


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("dealflow.worker", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_level_logger_message_and_ids() -> None:
    line = JsonFormatter().format(_record("gate refused", deal_id="acme", event_id="crm-7"))
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("warning", "dealflow.worker", "gate refused")
    assert (entry["deal_id"], entry["event_id"]) == ("acme", "crm-7") and entry["time"].endswith("+00:00")


def test_secrets_never_reach_a_log_line() -> None:
    url = "postgresql://dealflow:s3cr3t@db:5432/dealflow"
    assert redact(f"cannot reach {url}") == "cannot reach postgresql://dealflow:***@db:5432/dealflow"
    assert redact("sasl_plain_password=hunter2 other=1") == "sasl_plain_password=*** other=1"
    for formatter in (JsonFormatter(), RedactingFormatter("%(message)s")):
        assert "s3cr3t" not in formatter.format(_record(f"connecting to {url}"))


def test_format_is_chosen_by_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEALFLOW_LOG_FORMAT", "json")
    assert logging_config("warn")["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert logging_config("warn")["root"]["level"] == "WARNING"
    monkeypatch.setenv("DEALFLOW_LOG_FORMAT", "text")
    assert logging_config("info")["formatters"]["default"]["()"].endswith("RedactingFormatter")
