"""Create the Kafka topics of the wire contract (idempotent)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, for_code

from processors.config import Settings, Topics
from processors.kafka.security import client_options

_TIMEOUT_MS = 30_000
COMPACTED_CONFIGS = {"cleanup.policy": "compact"}


def ensure_topics(bootstrap: str, topics: list[str], partitions: int,
                  options: dict[str, Any] | None = None, replicas: int | None = None,
                  configs: dict[str, str] | None = None) -> list[str]:
    """Create the topics in ``topics`` that do not exist yet and return their names.

    Topics are created with ``partitions`` partitions and ``replicas`` replicas (default:
    ``Settings.replication_factor``, ``DEALFLOW_REPLICATION_FACTOR``). Existing topics are left
    alone (their partition count is not changed), and a topic created concurrently by someone
    else is tolerated. ``options``: the Kafka client's security options (default: those of
    ``Settings.from_env()``).
    """
    replicas = Settings.from_env().replication_factor if replicas is None else replicas
    wanted = list(dict.fromkeys(topics))  # keep order, drop duplicates
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="dealflow-topics",
        bootstrap_timeout_ms=_TIMEOUT_MS,
        request_timeout_ms=_TIMEOUT_MS,
        **(client_options() if options is None else options),
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        created = _create(admin, missing, partitions, replicas, configs or {})
        if created:
            admin.wait_for_topics(created, timeout_ms=_TIMEOUT_MS)
        return created
    finally:
        admin.close()


def ensure_contract_topics(bootstrap: str, topics: Topics, partitions: int,
                           options: dict[str, Any] | None = None, replicas: int | None = None) -> list[str]:
    """Create the wire contract's topics that do not exist yet (:func:`ensure_topics`), the compacted
    ones (``Topics.compacted``: the stays topic) with ``cleanup.policy=compact``; their names."""
    compacted = topics.compacted()
    logs = [name for name in topics.all() if name not in compacted]
    return (ensure_topics(bootstrap, logs, partitions, options, replicas)
            + ensure_topics(bootstrap, compacted, partitions, options, replicas, COMPACTED_CONFIGS))


def _create(admin: KafkaAdminClient, names: list[str], partitions: int, replicas: int,
            configs: dict[str, str]) -> list[str]:
    """Send one CreateTopics request; return the names the broker actually created."""
    spec = {name: {"num_partitions": partitions, "replication_factor": replicas, "configs": configs}
            for name in names}
    response = admin.create_topics(spec, timeout_ms=_TIMEOUT_MS, raise_errors=False)
    created: list[str] = []
    for result in response["topics"]:
        error = for_code(result["error_code"])
        if result["error_code"] == 0:
            created.append(result["name"])
        elif error is not TopicAlreadyExistsError:
            message = result.get("error_message") or error.__name__
            raise error(f"cannot create topic {result['name']!r}: {message}")
    return created
