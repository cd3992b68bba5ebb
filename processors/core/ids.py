"""Deterministic ids: reprocessing a message yields the same fact and alert ids."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-8a52-4f7e-9d0b-3c2a1e5b7d90")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, computed directly (it is on every fact and alert)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def fact_id(deal_id: str, caused_by: str, index: int) -> str:
    """The id of the ``index``-th fact caused by message ``caused_by``."""
    return _uuid5(f"fact/{deal_id}/{caused_by}/{index}")


def message_alert_id(deal_id: str, alert_type: str, caused_by: str) -> str:
    """The id of an alert raised once by a single message."""
    return _uuid5(f"alert/{deal_id}/{alert_type}/{caused_by}")


def condition_alert_id(deal_id: str, key: str, episode: int) -> str:
    """The id of episode ``episode`` of a condition alert (``key``: type/rule/severity)."""
    return _uuid5(f"condition/{deal_id}/{key}/{episode}")
