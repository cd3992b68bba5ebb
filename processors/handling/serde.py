"""The one serializer: wire models and deal state to and from UTF-8 JSON bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from processors.core.state import BuyerEngagement, DealState, EvidenceEntry
from schemas.base import on_shared_utc


def to_bytes(model: BaseModel) -> bytes:
    """A wire model as compact UTF-8 JSON, the way it goes onto a topic.

    ``model.model_dump_json().encode("utf-8")``, without decoding the serializer's bytes and
    encoding them again.
    """
    return model.__pydantic_serializer__.to_json(model)


def state_to_json(state: DealState) -> str:
    return state.model_dump_json()


def state_from_json(deal_id: str, raw: str | bytes | None) -> DealState:
    """A deal's stored state, or a fresh (pending) one.

    UTC moments get the shared ``timezone.utc`` (as the inbound messages' do) instead of
    the parser's own UTC offsets, which the detectors compare about ten times more slowly.
    """
    if not raw:
        return DealState(deal_id=deal_id)
    state = DealState.model_validate_json(raw)
    return state.updated({name: _with_utc(value) for name, value in state.__dict__.items()
                          if isinstance(value, (datetime, list, dict))})


def _with_utc(value: Any) -> Any:
    """``value`` with :func:`on_shared_utc` applied to the moments in it (the alerts of ``open_alerts`` aside)."""
    if isinstance(value, datetime):
        return on_shared_utc(value)
    if isinstance(value, list):
        return [_with_utc(item) for item in value]
    if isinstance(value, dict):
        return {key: _with_utc(item) for key, item in value.items()}
    if isinstance(value, (BuyerEngagement, EvidenceEntry)):
        return value.model_copy(update={name: on_shared_utc(item) for name, item in value.__dict__.items()
                                        if isinstance(item, datetime)})
    return value
