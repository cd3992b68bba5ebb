"""Deterministic ids: reprocessing a message yields the same fact and alert ids."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-8a52-4f7e-9d0b-3c2a1e5b7d90")


def fact_id(deal_id: str, caused_by: str, index: int) -> str:
    """The id of the ``index``-th fact caused by message ``caused_by``."""
    return str(uuid.uuid5(_NAMESPACE, f"fact/{deal_id}/{caused_by}/{index}"))


def message_alert_id(deal_id: str, alert_type: str, caused_by: str) -> str:
    """The id of an alert raised once by a single message."""
    return str(uuid.uuid5(_NAMESPACE, f"alert/{deal_id}/{alert_type}/{caused_by}"))


def condition_alert_id(deal_id: str, key: str, episode: int) -> str:
    """The id of episode ``episode`` of a condition alert (``key``: type/rule/severity)."""
    return str(uuid.uuid5(_NAMESPACE, f"condition/{deal_id}/{key}/{episode}"))
