"""Building dead letters: the original bytes, where they came from, and why."""

from __future__ import annotations

import base64
from datetime import datetime

from schemas.deadletter import DeadLetter


def dead_letter(
    raw: bytes | None,
    reason: str,
    field: str | None,
    *,
    code: str = "invalid_field",
    topic: str,
    partition: int | None,
    offset: int | None,
    at: datetime,
) -> DeadLetter:
    """A dead letter for ``raw`` (kept as text when it is UTF-8, and always as base64)."""
    data = raw or b""
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetter(
        reason=reason,
        reason_code=code,
        field=field,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        original_text=text,
        original_base64=base64.b64encode(data).decode("ascii"),
        dead_lettered_at=at,
    )
