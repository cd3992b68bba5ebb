"""Validation of inbound bytes: every bad message gets a reason naming the offending field."""

from __future__ import annotations

import json

import pytest

from schemas.inbound import MAX_MESSAGE_BYTES, InvalidMessage, parse_inbound

VALID = {"event_id": "e1", "type": "deal.create", "deal_id": "d1", "occurred_at": "2026-01-01T10:00:00+02:00",
         "name": "Acme", "owner_id": "rep", "amount": 100, "close_date": "2026-03-01"}


def reason_for(raw: bytes | str, kind: str | None = "commands") -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        parse_inbound(raw, kind)  # type: ignore[arg-type]
    return info.value


def test_valid_message_parses_and_ignores_unknown_fields() -> None:
    message = parse_inbound(json.dumps(VALID | {"crm_extra": 1}), "commands")
    assert message.type == "deal.create" and message.currency == "USD"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"amount": -1}, "amount", "greater than or equal to 0"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at", "timezone"),
        ({"close_date": "soon"}, "close_date", "date"),
        ({"currency": "usd"}, "currency", "pattern"),
        ({"type": "deal.explode"}, "type", "unknown message type"),
        ({"event_id": None}, "event_id", "string"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, object], field: str, words: str) -> None:
    error = reason_for(json.dumps(VALID | change))
    assert error.field == field and words in error.reason


def test_missing_required_field_is_named() -> None:
    data = dict(VALID)
    del data["owner_id"]
    error = reason_for(json.dumps(data))
    assert error.field == "owner_id" and "required" in error.reason.lower()


def test_engagement_type_on_the_commands_topic_is_refused() -> None:
    data = {"event_id": "e", "type": "email.sent", "deal_id": "d", "occurred_at": "2026-01-01T00:00:00Z",
            "contact_id": "c"}
    assert "commands topic" in reason_for(json.dumps(data)).reason
    assert parse_inbound(json.dumps(data), "engagement").type == "email.sent"


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"{nope", "malformed JSON"), (b"[1, 2]", "JSON list"), (b"\xff\xfe", "not UTF-8"),
     (b'{"type": "deal.create", "amount": NaN}', "NaN"), (b"{}", "field 'type': missing")],
)
def test_malformed_bytes_are_explained(raw: bytes, words: str) -> None:
    assert words in reason_for(raw).reason


def test_oversized_messages_are_refused_unread() -> None:
    error = reason_for(b" " * (MAX_MESSAGE_BYTES + 1))
    assert "too large" in error.reason


def test_an_integer_too_long_to_convert_is_a_malformed_message() -> None:
    error = reason_for(b'{"type": "email.sent", "x": ' + b"9" * 5000 + b"}")
    assert error.code == "malformed_json" and "too many digits" in error.reason
