"""The one serializer: wire models and deal state to and from UTF-8 JSON bytes."""

from __future__ import annotations

from pydantic import BaseModel

from processors.core.state import DealState


def to_bytes(model: BaseModel) -> bytes:
    """A wire model as compact UTF-8 JSON, the way it goes onto a topic."""
    return model.model_dump_json().encode("utf-8")


def state_to_json(state: DealState) -> str:
    return state.model_dump_json()


def state_from_json(deal_id: str, raw: str | bytes | None) -> DealState:
    """A deal's stored state, or a fresh (pending) one."""
    if not raw:
        return DealState(deal_id=deal_id)
    return DealState.model_validate_json(raw)
