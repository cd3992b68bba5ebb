"""Deterministic ids: reprocessing a message yields the same fact and alert ids."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-8a52-4f7e-9d0b-3c2a1e5b7d90")
_SEEDED = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)
"""SHA-1 fed with the namespace: each id copies it and adds its name."""
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""The 17th hex digit with the RFC 4122 variant set in its top bits, by the digest's digit."""


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, computed directly (it is on every fact and alert)."""
    sha1 = _SEEDED.copy()
    sha1.update(name.encode("utf-8"))
    h = sha1.hexdigest()
    # version 5 in the 13th hex digit; the variant in the 17th
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def fact_id(deal_id: str, caused_by: str, index: int) -> str:
    """The id of the ``index``-th fact caused by message ``caused_by``."""
    return _uuid5(f"fact/{deal_id}/{caused_by}/{index}")


def message_alert_id(deal_id: str, alert_type: str, caused_by: str) -> str:
    """The id of an alert raised once by a single message."""
    return _uuid5(f"alert/{deal_id}/{alert_type}/{caused_by}")


def condition_alert_id(deal_id: str, key: str, episode: int) -> str:
    """The id of episode ``episode`` of a condition alert (``key``: type/rule/severity)."""
    return _uuid5(f"condition/{deal_id}/{key}/{episode}")
