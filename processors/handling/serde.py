"""The one serializer: wire models and deal state to and from UTF-8 JSON bytes.

A deal's stored state is a JSON array (format 2): the format number, then the values of
:data:`STORED_FIELDS` in that order, with the state's own records (evidence entries, buyer
engagements, open alerts and their alerts) as arrays of their fields' values too. The field
names are not repeated in every stored state, which keeps a large table about half the size.
Fields are only ever appended, to the state and to its records alike (a shorter array loads with
the defaults of the fields it lacks, so a field appended later must have a default);
reordering or removing one needs a new format number. States stored as JSON objects (format 1,
``model_dump_json``) still load.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter
from typing import Any

from pydantic import BaseModel
from pydantic_core import from_json, to_json

from processors.core.state import CACHES, BuyerEngagement, DealRecord, DealState, EvidenceEntry
from schemas.alerts import Alert
from schemas.base import on_shared_utc

STATE_FORMAT = 2
STORED_FIELDS = (
    "deal_id", "status", "name", "owner_id", "amount", "currency", "close_date", "next_step", "stage",
    "stage_entered_at", "created_at", "evidence", "contacts", "pending_engagement", "seen", "last_activity_at",
    "stage_first_entered", "last_buyer_response_at", "unanswered_touch_times", "response_times",
    "buyer_engagements", "last_economic_buyer_at", "meetings_held", "longest_meeting_minutes",
    "largest_meeting_attendees", "open_alerts", "episodes", "evaluated_at", "wake", "wake_known",
    "last_substantive_at", "stakeholders", "momentum_reported", "blockers", "conversations_in_stage",
)
"""The stored fields of :class:`DealRecord`, in their order in a stored state (append only)."""
_MODEL_FIELDS = {*DealRecord.model_fields, *DealRecord.model_computed_fields} - CACHES - {"seen_ids"}  # as ``seen``
assert set(STORED_FIELDS) == _MODEL_FIELDS, "every stored field has its place"

_RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "evidence": tuple(EvidenceEntry.model_fields),
    "buyer_engagements": tuple(BuyerEngagement.model_fields),
}
_ALERT_FIELDS = tuple(Alert.model_fields)
_RECORD_GETTERS = {name: itemgetter(*fields) for name, fields in _RECORD_FIELDS.items()}
"""Each record's field values in their order, as a tuple (a JSON array)."""
_alert_fields = itemgetter(*_ALERT_FIELDS)
_stored_values = itemgetter(*STORED_FIELDS)
_FLOAT_FIELDS = frozenset(name for name, info in DealRecord.model_fields.items() if info.annotation is float)


def to_bytes(model: BaseModel) -> bytes:
    """A wire model as compact UTF-8 JSON, the way it goes onto a topic.

    ``model.model_dump_json().encode("utf-8")``, without decoding the serializer's bytes and
    encoding them again.
    """
    return model.__pydantic_serializer__.to_json(model)


def state_to_json(state: DealState) -> str:
    """A deal's state as stored (format 2, see the module docstring)."""
    return state_to_bytes(state).decode("utf-8")


def state_to_bytes(state: DealState) -> bytes:
    """A deal's state as stored, as UTF-8 JSON (what the changelog holds).

    Built from the state's values directly (the serializer infers each value's JSON as the
    record's fields would give it; ``tests/unit/test_serde.py`` holds it to ``DealRecord``'s JSON).
    """
    data = dict(state.__dict__)
    data["seen"] = state.seen_ids.ids()
    for name, fields_of in _RECORD_GETTERS.items():
        data[name] = [fields_of(record.__dict__) for record in data[name]]
    data["open_alerts"] = {key: (_alert_fields(entry.alert.__dict__), entry.identity)
                           for key, entry in data["open_alerts"].items()}
    for name in _FLOAT_FIELDS:
        data[name] = float(data[name])  # a whole number stays a float on the wire (0.0)
    row = (STATE_FORMAT, *_stored_values(data))
    return to_json(row)  # compact, non-ASCII as UTF-8: json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def _unpacked(row: list[Any]) -> dict[str, Any]:
    """The fields of a format-2 state by name (records as objects again)."""
    data = dict(zip(STORED_FIELDS, row[1:], strict=False))
    for name, fields in _RECORD_FIELDS.items():
        if name in data:
            data[name] = [dict(zip(fields, record, strict=False)) for record in data[name]]
    if "open_alerts" in data:
        data["open_alerts"] = {key: {"alert": dict(zip(_ALERT_FIELDS, alert, strict=False)), "identity": identity}
                               for key, (alert, identity) in data["open_alerts"].items()}
    return data


def state_from_json(deal_id: str, raw: str | bytes | None) -> DealState:
    """A deal's stored state (either format), or a fresh (pending) one.

    UTC moments get the shared ``timezone.utc`` (as the inbound messages' do) instead of
    the parser's own UTC offsets, which the detectors compare about ten times more slowly.
    """
    if not raw:
        return DealState(deal_id=deal_id)
    if raw[:1] in ("[", b"["):
        row = from_json(raw)
        if row[0] != STATE_FORMAT:
            raise ValueError(f"stored state of deal {deal_id!r} has unknown format {row[0]!r}")
        state = DealState.validated(_unpacked(row))
    else:
        state = DealState.from_json(raw)
    return state.updated({name: _with_utc(value) for name, value in state.__dict__.items()
                          if isinstance(value, (datetime, list, dict)) and name not in CACHES})


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

