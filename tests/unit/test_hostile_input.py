"""Hostile and malformed input never crashes the record handler: it becomes a dead letter with a reason."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.core import DealState
from processors.handling.records import Origin, handle_record
from processors.playbooks.loader import default_playbook
from schemas.inbound import MAX_MESSAGE_BYTES

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
ORIGIN = Origin("dealflow.commands", 0, 42)
PLAYBOOK = default_playbook()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
TYPES = ["deal.create", "deal.update", "evidence.record", "stage.change", "deal.disqualify", "deal.close",
         "email.sent", "call.logged", "meeting.held", "signal.observed", "nope", ""]


def _handle(raw: bytes, key: bytes | None = None, kind: str | None = "commands") -> object:
    outcome = handle_record(raw, key, kind, ORIGIN, lambda deal_id: DealState(deal_id=deal_id), PLAYBOOK, NOW)  # type: ignore[arg-type]
    assert (outcome.dead_letter is None) != (outcome.state is None)  # exactly one: dead letter or new state
    if outcome.dead_letter is not None:
        letter = outcome.dead_letter
        assert letter.reason and letter.source_topic == ORIGIN.topic and letter.source_offset == 42
        assert letter.reason_code in {"malformed_json", "not_utf8", "too_large", "not_an_object", "missing_type",
                                      "unknown_type", "invalid_field", "wrong_key", "internal_error"}
        assert letter.reason_code != "internal_error", letter.reason
    return outcome


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes(raw: bytes) -> None:
    _handle(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json(value: object) -> None:
    _handle(json.dumps(value).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES), st.dictionaries(
    st.sampled_from(["event_id", "deal_id", "occurred_at", "name", "owner_id", "amount", "close_date", "stage",
                     "to_stage", "requested_by", "reason", "criterion", "evidence", "outcome", "contact_id",
                     "direction", "connected", "duration_minutes", "attendees", "signal", "next_step"]),
    json_values | st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "0001-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59+14:00", "2026-02-30", "-1", "1e308", "x" * 5000]),
    max_size=12))
def test_wrong_types_missing_fields_and_absurd_values(message_type: str, fields: dict[str, object]) -> None:
    _handle(json.dumps({"type": message_type, **fields}).encode())


def test_absurd_timestamps_are_refused_with_the_field_named() -> None:
    base = {"event_id": "e", "type": "deal.create", "deal_id": "d", "name": "n", "owner_id": "o", "amount": 1,
            "close_date": "2026-06-01"}
    for moment in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        outcome = _handle(json.dumps(base | {"occurred_at": moment}).encode())
        assert outcome.dead_letter.field == "occurred_at"  # type: ignore[attr-defined]


def test_huge_and_oversized_messages() -> None:
    huge_name = {"event_id": "e", "type": "deal.create", "deal_id": "d", "occurred_at": "2026-01-01T00:00:00Z",
                 "name": "n" * 100_000, "owner_id": "o", "amount": 1, "close_date": "2026-06-01"}
    assert _handle(json.dumps(huge_name).encode()).dead_letter.field == "name"  # type: ignore[attr-defined]
    oversized = _handle(b'{"pad": "' + b"x" * MAX_MESSAGE_BYTES + b'"}')
    assert oversized.dead_letter.reason_code == "too_large"  # type: ignore[attr-defined]


def test_a_key_that_is_not_the_deal_id_is_refused() -> None:
    message = {"event_id": "e", "type": "stage.change", "deal_id": "d1", "occurred_at": "2026-01-01T00:00:00Z",
               "to_stage": "proposal", "requested_by": "r"}
    outcome = _handle(json.dumps(message).encode(), key=b"d2")
    assert outcome.dead_letter.reason_code == "wrong_key"  # type: ignore[attr-defined]
