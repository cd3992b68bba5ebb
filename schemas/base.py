"""Shared pieces of every message: the envelope, enums and common value types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

Role = Literal[
    "economic_buyer",
    "decision_maker",
    "champion",
    "technical",
    "legal",
    "procurement",
    "finance",
    "executive",
    "user",
    "other",
]

EvidenceKind = Literal[
    "meeting_notes",
    "email",
    "document",
    "technical_evaluation",
    "proposal_request",
    "contract_review",
    "purchase_order",
    "other",
]

Severity = Literal["info", "warning", "critical"]

NonEmpty = Field(min_length=1, max_length=512)


class WireModel(BaseModel):
    """Base of every wire message: unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Model = TypeVar("Model", bound=BaseModel)


_UNSET: Any = object()
"""The place of a field without a plain default, in :class:`_Layout` ``defaults``."""


@dataclass(frozen=True)
class _Layout:
    """A model's fields in their order, with their plain defaults (or ``_UNSET``), the names of
    those that must be given, and the default factories of the others."""

    defaults: dict[str, Any]
    required: frozenset[str]
    factories: tuple[tuple[str, Callable[[], Any]], ...]


_LAYOUTS: dict[type[BaseModel], _Layout] = {}


def _layout(model: type[BaseModel]) -> _Layout:
    fields = model.model_fields
    layout = _Layout(
        defaults={name: _UNSET if f.is_required() or f.default_factory else f.default for name, f in fields.items()},
        required=frozenset(name for name, f in fields.items() if f.is_required()),
        factories=tuple((name, f.default_factory) for name, f in fields.items()  # type: ignore[misc]
                        if f.default_factory is not None),
    )
    _LAYOUTS[model] = layout
    return layout


def trusted(model: type[Model], **values: Any) -> Model:
    """``model(**values)`` for values already of their fields' types, without validating them again.

    As ``model_construct`` builds it (the fields in their order, the defaults of those left out),
    for the models the core builds from validated values: facts, alerts and their parts.
    """
    layout = _LAYOUTS.get(model) or _layout(model)
    data = {**layout.defaults, **values}
    if len(data) != len(layout.defaults) or not layout.required <= values.keys():
        raise TypeError(f"{model.__name__}: missing {sorted(layout.required - values.keys())}, "
                        f"unknown {sorted(data.keys() - layout.defaults.keys())}")
    for name, factory in layout.factories:
        if name not in values:
            data[name] = factory()
    return built_from(model, data, set(values))


_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
"""The setters of a model's slots (``object.__setattr__`` finds them for each call)."""


def built_from(model: type[Model], data: dict[str, Any], fields_set: set[str]) -> Model:
    """A ``model`` whose field values are ``data`` (every field, in order), not validated.

    What ``model_construct`` does without its overhead; :func:`trusted` and the deal state's
    copies (``processors.core.state``) both build their models through it.
    """
    instance: Model = _new(model)
    _set_dict(instance, data)
    _set_fields_set(instance, fields_set)
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


def copy_with(model: Model, update: dict[str, Any]) -> Model:
    """``model.model_copy(update=update)`` (values trusted, not validated), without its overhead."""
    return built_from(type(model), {**model.__dict__, **update}, model.__pydantic_fields_set__ | update.keys())


def json_values(model: BaseModel) -> dict[str, Any]:
    """``model.model_dump(mode="json")``, straight from the serializer."""
    return model.__pydantic_serializer__.to_python(model, mode="json")  # type: ignore[no-any-return]


_ZERO = timedelta(0)
_PARSER_UTC = TypeAdapter(AwareDatetime).validate_json('"2000-01-01T00:00:00Z"').tzinfo
"""The UTC offset pydantic-core gives parsed times (one shared object, of its own type)."""
_PARSER_EPOCH = datetime(2000, 1, 1, tzinfo=_PARSER_UTC)
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def on_shared_utc(moment: datetime) -> datetime:
    """``moment``, if it is in UTC, on the one shared ``timezone.utc``: the same moment and the
    same text, but times on one tzinfo object compare without asking each for its offset
    (about ten times faster than on the parser's own UTC offsets).

    A parsed UTC time moves by its distance from an epoch on the parser's UTC (times on one
    tzinfo object subtract without asking it for offsets): a third of the cost of ``astimezone``.
    """
    zone = moment.tzinfo
    if zone is timezone.utc:
        return moment
    if zone is _PARSER_UTC:
        return _EPOCH + (moment - _PARSER_EPOCH)
    if moment.utcoffset() == _ZERO:
        return moment.astimezone(timezone.utc)
    return moment


EARLIEST_YEAR, LATEST_YEAR = 1970, 2199
"""Event times outside these years are refused (they would overflow date arithmetic)."""


class Envelope(WireModel):
    """Fields every inbound message carries (the Kafka key is ``deal_id``)."""

    event_id: str = Field(min_length=1, max_length=256)
    deal_id: str = Field(min_length=1, max_length=256)
    occurred_at: AwareDatetime
    source: str | None = Field(default=None, max_length=256)

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: AwareDatetime) -> AwareDatetime:
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValueError(f"event time must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
        return on_shared_utc(value)


class NextStep(WireModel):
    """The agreed next step of a deal."""

    description: str = Field(min_length=1, max_length=2000)
    due_date: date


class Evidence(WireModel):
    """A piece of evidence that a buyer met an exit criterion."""

    kind: EvidenceKind
    reference: str = Field(min_length=1, max_length=2000)
    summary: str | None = Field(default=None, max_length=10000)
