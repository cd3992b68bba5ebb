"""Fail fast, with a clear message and before processing anything, when Kafka refuses us."""

from __future__ import annotations

import logging

from processors.config import Settings
from processors.kafka.security import KafkaSecurity, KafkaSecurityError


class _Remember(logging.Handler):
    """Keeps what the Kafka client logs about a failed connection, for the message."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check_kafka_access(settings: Settings) -> None:
    """Connect once; ``SystemExit`` with the reason (never the password) when that fails."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    remember = _Remember()
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.addHandler(remember)
    kafka_logger.setLevel(logging.INFO)
    try:
        security = KafkaSecurity.from_settings(settings.kafka_security)
        KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000,
                         bootstrap_timeout_ms=10_000, **security.client_options()).close()
    except KafkaSecurityError as exc:
        raise SystemExit(f"dealflow: {exc}") from None
    except KafkaError as exc:
        hint = ("the credentials were refused: check DEALFLOW_KAFKA_SASL_USERNAME, DEALFLOW_KAFKA_SASL_PASSWORD "
                "and DEALFLOW_KAFKA_SASL_MECHANISM" if credentials_refused(security, exc, remember.messages)
                else "is the broker up and the security protocol right?")
        raise SystemExit(f"dealflow: cannot connect to Kafka at {settings.kafka_bootstrap} "
                         f"({security.describe()}): {type(exc).__name__}; {hint}") from None
    finally:
        kafka_logger.removeHandler(remember)
        kafka_logger.setLevel(level)


def credentials_refused(security: KafkaSecurity, exc: Exception, client_log: list[str]) -> bool:
    """Whether a failed connection means the broker refused our SASL credentials.

    The broker answers bad credentials with an authentication error and closes the connection;
    under load the client may see only the close. So: an authentication error, or a SASL
    connection that the broker accepted but closed before the client finished connecting.
    """
    text = type(exc).__name__ + " " + " ".join(client_log)
    if "uthentication" in text:
        return True
    reached = any(": connected to " in line for line in client_log)
    completed = any(line.endswith(": Connected") for line in client_log)
    return security.uses_sasl and reached and not completed and "disconnected" in text
