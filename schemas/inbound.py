"""Parsing inbound bytes into a validated message, with a reason a human can act on."""

from __future__ import annotations

import json
import typing
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from schemas.commands import COMMAND_MODELS, Command
from schemas.engagement import ENGAGEMENT_MODELS, Engagement

MAX_MESSAGE_BYTES = 1_048_576
"""Inbound messages larger than this (1 MiB) are dead-lettered unread."""

Inbound = Engagement | Command
InboundKind = Literal["engagement", "commands"]

def message_type(model: type[Any]) -> str:
    """The message type a model carries (its ``type`` literal)."""
    return str(model.model_fields["type"].annotation.__args__[0])


ENGAGEMENT_TYPES = frozenset(message_type(m) for m in ENGAGEMENT_MODELS)
COMMAND_TYPES = frozenset(message_type(m) for m in COMMAND_MODELS)
INBOUND_TYPES = ENGAGEMENT_TYPES | COMMAND_TYPES

_ADAPTERS: dict[str | None, TypeAdapter[Any]] = {
    "engagement": TypeAdapter(Annotated[Engagement, Field(discriminator="type")]),
    "commands": TypeAdapter(Annotated[Command, Field(discriminator="type")]),
    None: TypeAdapter(Annotated[Engagement | Command, Field(discriminator="type")]),
}


def _holds_decimal(annotation: Any) -> bool:
    """Whether a field annotation has a ``Decimal`` in it, in a nested model too."""
    if annotation is Decimal:
        return True
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return any(_holds_decimal(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_decimal(arg) for arg in typing.get_args(annotation))


def _fast_adapter(models: tuple[type[Any], ...]) -> TypeAdapter[Any]:
    """Validation straight from JSON text, for the models without a ``Decimal``: from JSON text a
    number becomes a different ``Decimal`` (``58900.0`` gives ``Decimal('58900')``) than from the
    float the ``json`` module reads (``Decimal('58900.0')``)."""
    fast: Any = typing.Union[tuple(m for m in models if not _holds_decimal(m))]
    return TypeAdapter(Annotated[fast, Field(discriminator="type")])


_FAST_ADAPTERS: dict[str | None, TypeAdapter[Any]] = {
    "engagement": _fast_adapter(ENGAGEMENT_MODELS),
    "commands": _fast_adapter(COMMAND_MODELS),
    None: _fast_adapter(ENGAGEMENT_MODELS + COMMAND_MODELS),
}


ReasonCode = Literal["malformed_json", "not_utf8", "too_large", "not_an_object", "missing_type", "unknown_type",
                     "invalid_field", "wrong_key", "internal_error"]


class InvalidMessage(ValueError):
    """An inbound message that cannot be processed.

    ``reason`` is for people, ``field`` names the offending field, ``code`` is a bounded
    category (for metrics and filtering).
    """

    def __init__(self, reason: str, field: str | None = None, code: ReasonCode = "invalid_field") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code: ReasonCode = code


def _reject_constant(name: str) -> None:
    raise InvalidMessage(f"malformed JSON: {name} is not allowed", code="malformed_json")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""``json.loads(text, parse_constant=_reject_constant)`` builds this decoder on every call."""


def _refuse_oversized(raw: bytes | str) -> None:
    size = len(raw) if isinstance(raw, bytes) or raw.isascii() else len(raw.encode())
    if size > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})", code="too_large")


def _decode(raw: bytes | str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"message is not UTF-8: {exc.reason} at byte {exc.start}", code="not_utf8") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads does
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                             code="malformed_json") from None
    except RecursionError:
        raise InvalidMessage("malformed JSON: nested too deeply", code="malformed_json") from None
    except InvalidMessage:
        raise
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits())
        raise InvalidMessage("malformed JSON: a number has too many digits", code="malformed_json") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"message is a JSON {type(data).__name__}, expected an object", code="not_an_object")
    return data


def _expected_types(kind: InboundKind | None) -> frozenset[str]:
    if kind == "engagement":
        return ENGAGEMENT_TYPES
    if kind == "commands":
        return COMMAND_TYPES
    return INBOUND_TYPES


def _explain(exc: ValidationError) -> InvalidMessage:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    if loc and loc[0] in INBOUND_TYPES:
        loc = loc[1:]  # drop the union tag pydantic puts first
    field = ".".join(loc) or None
    where = f"field '{field}'" if field else "message"
    return InvalidMessage(f"{where}: {error['msg']}", field)


def parse_inbound(raw: bytes | str, kind: InboundKind | None = None) -> Inbound:
    """Decode and validate one inbound message; raise :class:`InvalidMessage` if unusable.

    ``kind`` restricts the accepted types to one topic's (``None`` accepts both). Most messages
    take :func:`fast_parse`; the others, and every refusal, :func:`checked_parse`.
    """
    _refuse_oversized(raw)
    return fast_parse(raw, kind) or checked_parse(raw, kind)


def _may_hold_constant(raw: bytes | str) -> bool:
    if isinstance(raw, str):
        return "NaN" in raw or "Infinity" in raw
    return b"NaN" in raw or b"Infinity" in raw


def fast_parse(raw: bytes | str, kind: InboundKind | None = None) -> Inbound | None:
    """The message validated straight from its JSON text, or ``None`` when :func:`checked_parse`
    must decide: the message is refused, has a ``Decimal``, or may hold a ``NaN`` or ``Infinity``
    (accepted by this parser, refused by the ``json`` module's)."""
    if _may_hold_constant(raw):
        return None
    try:
        return _FAST_ADAPTERS[kind].validate_json(raw)  # type: ignore[no-any-return]
    except ValidationError:
        return None


def checked_parse(raw: bytes | str, kind: InboundKind | None = None) -> Inbound:
    """:func:`parse_inbound` through the ``json`` module, with the reason for a refusal."""
    data = _decode(raw)
    message_type = data.get("type")
    if message_type is None:
        raise InvalidMessage("field 'type': missing", "type", code="missing_type")
    expected = _expected_types(kind)
    if not isinstance(message_type, str) or message_type not in expected:
        where = f" on the {kind} topic" if kind else ""
        raise InvalidMessage(
            f"field 'type': unknown message type {message_type!r}{where} "
            f"(expected one of {', '.join(sorted(expected))})",
            "type",
            code="unknown_type",
        )
    try:
        return _ADAPTERS[kind].validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise _explain(exc) from None
