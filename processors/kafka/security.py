"""Kafka connection security: TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), from ``Settings``.

The values come from ``Settings.kafka_security`` (``processors/config.py`` reads them):

| variable | meaning |
|---|---|
| ``DEALFLOW_KAFKA_SECURITY_PROTOCOL`` | ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL`` |
| ``DEALFLOW_KAFKA_SASL_MECHANISM`` | ``PLAIN`` (default with SASL), ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` |
| ``DEALFLOW_KAFKA_SASL_USERNAME`` / ``DEALFLOW_KAFKA_SASL_PASSWORD`` | SASL credentials |
| ``DEALFLOW_KAFKA_SSL_CAFILE`` | CA bundle that signed the brokers' certificates |
| ``DEALFLOW_KAFKA_SSL_CERTFILE`` / ``DEALFLOW_KAFKA_SSL_KEYFILE`` | client certificate and key (mutual TLS) |
"""

from __future__ import annotations

import ssl
from typing import Any

from processors.config import KafkaSecuritySettings, Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurityError(ValueError):
    """A security setting that cannot work; the message never contains the password."""


class KafkaSecurity(KafkaSecuritySettings):
    """The configured security, validated, as Kafka client options; the password is never shown."""

    @classmethod
    def from_settings(cls, settings: KafkaSecuritySettings) -> "KafkaSecurity":
        """The validated security of ``settings`` (``KafkaSecurityError`` if it cannot work)."""
        security = cls(**vars(settings))
        security.validate()
        return security

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"DEALFLOW_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: use one of {PROTOCOLS}")
        if self.uses_sasl and self.sasl_mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"DEALFLOW_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: use one of {MECHANISMS}")
        if self.uses_sasl and not (self.username and self.password):
            raise KafkaSecurityError("SASL needs DEALFLOW_KAFKA_SASL_USERNAME and DEALFLOW_KAFKA_SASL_PASSWORD")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.cafile)
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (producers, consumers, admin)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            options |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.username,
                        "sasl_plain_password": self.password}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def faust_credentials(self) -> Any:
        """The Faust ``broker_credentials`` (``None`` for plaintext)."""
        import faust

        if self.uses_sasl:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         mechanism=self.sasl_mechanism, ssl_context=self.ssl_context())
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """For messages and logs: protocol, mechanism and user, never the password."""
        if self.uses_sasl:
            return f"{self.protocol} {self.sasl_mechanism} as {self.username!r}"
        return self.protocol


def client_options(settings: Settings | None = None) -> dict[str, Any]:
    """kafka-python security options of ``settings`` (default: ``Settings.from_env()``)."""
    return KafkaSecurity.from_settings((settings or Settings.from_env()).kafka_security).client_options()
