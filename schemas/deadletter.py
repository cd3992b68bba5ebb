"""Dead letters (topic ``dealflow.deadletter``): inbound messages that could not be used."""

from __future__ import annotations

from pydantic import AwareDatetime

from schemas.base import WireModel


class DeadLetter(WireModel):
    """The original message, where it came from, and why it was refused."""

    reason: str
    reason_code: str = "invalid_field"
    """A bounded category: malformed_json, not_utf8, too_large, not_an_object, missing_type,
    unknown_type, invalid_field, wrong_key or internal_error."""
    field: str | None
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    original_text: str | None
    original_base64: str
    dead_lettered_at: AwareDatetime
