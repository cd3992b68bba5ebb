"""One configuration object, read from environment variables (``DEALFLOW_*``).

This module is the only reader of those variables: the rest of the code gets its values from
a ``Settings`` (``tests/unit/test_settings.py`` checks that).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "postgresql://dealflow@127.0.0.1:5432/dealflow"
DEFAULT_METRICS_PORT = 9464


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _optional(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


class SettingsError(ValueError):
    """A ``DEALFLOW_*`` variable whose value cannot be used; the message names it."""


def _number(name: str, default: str, kind: type[int] | type[float]) -> int | float:
    text = _env(name, default)
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun}, got {text!r}") from None


def _int(name: str, default: str) -> int:
    return int(_number(name, default, int))


def _float(name: str, default: str) -> float:
    return float(_number(name, default, float))


RUNTIMES = ("batch", "faust")


def _runtime(value: str) -> str:
    if value not in RUNTIMES:
        raise SettingsError(f"DEALFLOW_RUNTIME must be one of {', '.join(RUNTIMES)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Topics:
    """Topic names of the wire contract (each overridable by ``DEALFLOW_TOPIC_<NAME>``)."""

    engagement: str = "dealflow.engagement"
    commands: str = "dealflow.commands"
    events: str = "dealflow.events"
    alerts: str = "dealflow.alerts"
    deadletter: str = "dealflow.deadletter"
    stays: str = "dealflow.stays"
    """Compacted: the completed stays the learned stage benchmarks are computed from (every worker reads it whole)."""

    @classmethod
    def from_env(cls) -> "Topics":
        return cls(
            engagement=_env("DEALFLOW_TOPIC_ENGAGEMENT", cls.engagement),
            commands=_env("DEALFLOW_TOPIC_COMMANDS", cls.commands),
            events=_env("DEALFLOW_TOPIC_EVENTS", cls.events),
            alerts=_env("DEALFLOW_TOPIC_ALERTS", cls.alerts),
            deadletter=_env("DEALFLOW_TOPIC_DEADLETTER", cls.deadletter),
            stays=_env("DEALFLOW_TOPIC_STAYS", cls.stays),
        )

    def all(self) -> list[str]:
        """Every topic of the wire contract."""
        return [self.engagement, self.commands, self.events, self.alerts, self.deadletter, self.stays]

    def compacted(self) -> list[str]:
        """The topics of :meth:`all` that are compacted (keyed records, the latest per key kept)."""
        return [self.stays]


@dataclass(frozen=True)
class KafkaSecuritySettings:
    """Kafka connection security as configured (``DEALFLOW_KAFKA_*``), not yet validated.

    ``processors.kafka.security.KafkaSecurity`` validates it when a client is built. The
    password is never part of the repr.
    """

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def from_env(cls) -> "KafkaSecuritySettings":
        return cls(
            protocol=(_optional("DEALFLOW_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(_optional("DEALFLOW_KAFKA_SASL_MECHANISM") or "PLAIN").upper(),
            username=_optional("DEALFLOW_KAFKA_SASL_USERNAME"),
            password=os.environ.get("DEALFLOW_KAFKA_SASL_PASSWORD") or None,  # as given: not stripped
            cafile=_optional("DEALFLOW_KAFKA_SSL_CAFILE"),
            certfile=_optional("DEALFLOW_KAFKA_SSL_CERTFILE"),
            keyfile=_optional("DEALFLOW_KAFKA_SSL_KEYFILE"),
        )


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Every field has an environment variable and a sensible default."""

    kafka_bootstrap: str = "localhost:9092"
    database_url: str = DEFAULT_DATABASE_URL
    playbook: str | None = None
    metrics_port: int = DEFAULT_METRICS_PORT
    metrics_host: str = "127.0.0.1"
    partitions: int = 6
    state_dir: Path = Path(".dealflow")
    app_id: str = "dealflow"
    tick_seconds: float = 30.0
    state_cache_size: int = 10_000
    topics: Topics = field(default_factory=Topics)
    log_format: str = "text"
    projector_batch: int = 5000
    replication_factor: int = 1
    commit_interval: float = 2.8
    session_timeout: float = 10.0
    producer_linger_ms: float = 0.0
    fetch_bytes: int = 64 * 1024
    kafka_security: KafkaSecuritySettings = field(default_factory=KafkaSecuritySettings)
    runtime: str = "batch"
    """The live worker's runtime: ``batch`` (a direct aiokafka batch loop) or ``faust`` (the Faust app)."""

    @property
    def deadline_topic(self) -> str:
        """The worker's internal topic of due-deadline ticks (co-partitioned with the inputs)."""
        return f"{self.app_id}-deadlines"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            kafka_bootstrap=_env("DEALFLOW_KAFKA_BOOTSTRAP", "localhost:9092"),
            database_url=_env("DEALFLOW_DATABASE_URL", DEFAULT_DATABASE_URL),
            playbook=os.environ.get("DEALFLOW_PLAYBOOK") or None,
            metrics_port=_int("DEALFLOW_METRICS_PORT", str(DEFAULT_METRICS_PORT)),
            metrics_host=_env("DEALFLOW_METRICS_HOST", "127.0.0.1"),
            partitions=_int("DEALFLOW_PARTITIONS", "6"),
            state_dir=Path(_env("DEALFLOW_HOME", ".dealflow")).resolve(),
            app_id=_env("DEALFLOW_APP_ID", "dealflow"),
            tick_seconds=min(60.0, _float("DEALFLOW_TICK_SECONDS", "30")),
            state_cache_size=_int("DEALFLOW_STATE_CACHE", "10000"),
            topics=Topics.from_env(),
            log_format=_env("DEALFLOW_LOG_FORMAT", "text").lower(),
            projector_batch=_int("DEALFLOW_PROJECTOR_BATCH", "5000"),
            replication_factor=_int("DEALFLOW_REPLICATION_FACTOR", "1") or 1,
            commit_interval=_float("DEALFLOW_COMMIT_INTERVAL", "2.8"),
            session_timeout=_float("DEALFLOW_SESSION_TIMEOUT", "10"),
            producer_linger_ms=_float("DEALFLOW_PRODUCER_LINGER_MS", "0"),
            fetch_bytes=_int("DEALFLOW_FETCH_BYTES", str(64 * 1024)),
            kafka_security=KafkaSecuritySettings.from_env(),
            runtime=_runtime(_env("DEALFLOW_RUNTIME", "batch").lower()),
        )
