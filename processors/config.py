"""One configuration object, read from environment variables (``DEALFLOW_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "postgresql://dealflow@127.0.0.1:5432/dealflow"
DEFAULT_METRICS_PORT = 9464


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Topics:
    """Topic names of the wire contract (each overridable by ``DEALFLOW_TOPIC_<NAME>``)."""

    engagement: str = "dealflow.engagement"
    commands: str = "dealflow.commands"
    events: str = "dealflow.events"
    alerts: str = "dealflow.alerts"
    deadletter: str = "dealflow.deadletter"

    @classmethod
    def from_env(cls) -> "Topics":
        return cls(
            engagement=_env("DEALFLOW_TOPIC_ENGAGEMENT", cls.engagement),
            commands=_env("DEALFLOW_TOPIC_COMMANDS", cls.commands),
            events=_env("DEALFLOW_TOPIC_EVENTS", cls.events),
            alerts=_env("DEALFLOW_TOPIC_ALERTS", cls.alerts),
            deadletter=_env("DEALFLOW_TOPIC_DEADLETTER", cls.deadletter),
        )

    def all(self) -> list[str]:
        return [self.engagement, self.commands, self.events, self.alerts, self.deadletter]


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
            metrics_port=int(_env("DEALFLOW_METRICS_PORT", str(DEFAULT_METRICS_PORT))),
            metrics_host=_env("DEALFLOW_METRICS_HOST", "127.0.0.1"),
            partitions=int(_env("DEALFLOW_PARTITIONS", "6")),
            state_dir=Path(_env("DEALFLOW_HOME", ".dealflow")).resolve(),
            app_id=_env("DEALFLOW_APP_ID", "dealflow"),
            tick_seconds=min(60.0, float(_env("DEALFLOW_TICK_SECONDS", "30"))),
            state_cache_size=int(_env("DEALFLOW_STATE_CACHE", "10000")),
            topics=Topics.from_env(),
        )
