"""Logging: plain text or one JSON object per line (``DEALFLOW_LOG_FORMAT=json``), never a secret."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from processors.config import Settings

_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+:)[^@\s]+@")
_KEY_VALUE_SECRET = re.compile(r"(?i)\b(password|passwd|secret|sasl_plain_password)=\S+")


def redact(text: str) -> str:
    """Remove passwords from URLs (``postgresql://user:***@host``) and ``password=...`` pairs."""
    return _KEY_VALUE_SECRET.sub(r"\1=***", _URL_PASSWORD.sub(r"\1***@", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message, and deal/event ids when given."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in ("deal_id", "event_id", "topic", "partition", "offset"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_LEVELS = {"warn": "WARNING", "crit": "CRITICAL"}


def logging_config(level: str = "info", log_format: str | None = None) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``log_format``, text or json (default:
    ``Settings.log_format``, ``DEALFLOW_LOG_FORMAT``)."""
    chosen = Settings.from_env().log_format if log_format is None else log_format
    json_lines = chosen.strip().lower() == "json"
    formatter: dict[str, Any] = (
        {"()": "processors.observability.logs.JsonFormatter"} if json_lines
        else {"()": "processors.observability.logs.RedactingFormatter",
              "format": "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["stderr"], "level": _LEVELS.get(level.lower(), level.upper())},
    }
