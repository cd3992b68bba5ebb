"""Per-deal state, rebuilt from facts by ``evolve``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, computed_field, model_validator

from processors.core.seen_ids import SeenIds
from schemas.alerts import Alert
from schemas.base import NextStep, built_from

Status = Literal["pending", "open", "won", "lost", "disqualified"]
TERMINAL: frozenset[str] = frozenset({"won", "lost", "disqualified"})

MAX_STAKEHOLDERS = 500
"""Buyer contacts a deal's state remembers to tell a new stakeholder from a known one."""
MAX_PENDING_ENGAGEMENT = 200
"""Engagement kept for a deal not created yet (the latest ones); it counts once the deal exists."""

DETECTOR_FIELDS = ("stage", "stage_entered_at", "last_buyer_response_at", "last_activity_at",
                   "unanswered_touch_times", "response_times", "buyer_engagements", "stage_first_entered",
                   "last_economic_buyer_at", "next_step", "close_date", "owner_id", "amount", "last_substantive_at",
                   "blockers")
"""Every state field a detector reads (``fields_missing``: every field a playbook may require)."""
FIELD_BITS: dict[str, int] = {name: 1 << bit for bit, name in enumerate(DETECTOR_FIELDS)}
"""The bit of each detector input in :attr:`DealState.dirty`."""
_DETECTOR_FIELD_SET = frozenset(DETECTOR_FIELDS)
ALL_DIRTY = (1 << len(DETECTOR_FIELDS)) - 1
CACHES = frozenset({"dirty", "answers", "engagement_times", "satisfied_criteria", "none_snoozed"})
"""Fields derived from the others, kept only in memory: never stored, never compared."""


_ID_LIST = TypeAdapter(list[str])


class EvidenceEntry(BaseModel):
    """The evidence that first satisfied a criterion; dropped when a regression invalidates it.

    The state keeps what the gates need (one entry per satisfied criterion); the full evidence
    (every piece, kind, reference, summary, who) lives in the ``evidence.recorded`` facts and
    the ``evidence`` table. ``valid`` is false only in states stored by earlier versions.
    """

    model_config = ConfigDict(frozen=True)

    criterion: str
    recorded_at: datetime
    source_event_id: str
    valid: bool = True

    @classmethod
    def of(cls, criterion: str, recorded_at: datetime, source_event_id: str) -> EvidenceEntry:
        """``EvidenceEntry(criterion=..., ...)`` from values already validated (a fact's), not validated again."""
        return built_from(cls, {"criterion": criterion, "recorded_at": recorded_at, "source_event_id": source_event_id,
                              "valid": True}, _GIVEN_EVIDENCE)


class BuyerEngagement(BaseModel):
    """One buyer engagement, kept for the windowed detectors (single-threading, velocity)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    contacts: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, at: datetime, contacts: list[str]) -> BuyerEngagement:
        """``BuyerEngagement(at=at, contacts=contacts)`` from values already validated, not validated again."""
        return built_from(cls, {"at": at, "contacts": contacts}, _GIVEN_ENGAGEMENT)


class OpenBlocker(BaseModel):
    """A blocker recorded on the deal (``blocker.record``) and not resolved yet."""

    model_config = ConfigDict(frozen=True)

    blocker_id: str
    code: str
    stall_point: str | None
    identified_at: datetime
    resolution_owner: str
    action: str
    due_date: date


class OpenAlert(BaseModel):
    """A raised condition alert; ``identity`` tells a new episode of the same condition from this one."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    identity: str


class DealRecord(BaseModel):
    """A deal's state as a pydantic model: its fields, validated and serialized (see :class:`DealState`).

    ``status`` is ``pending`` until ``deal.created``: engagement that arrives first is kept in
    ``pending_engagement`` and counts once the deal exists.
    """

    deal_id: str
    status: Status = "pending"
    name: str | None = None
    owner_id: str | None = None
    amount: Decimal | None = None
    currency: str = "USD"
    close_date: date | None = None
    next_step: NextStep | None = None
    stage: str | None = None
    stage_entered_at: datetime | None = None
    created_at: datetime | None = None
    evidence: list[EvidenceEntry] = Field(default_factory=list)
    contacts: dict[str, str] = Field(default_factory=dict)
    pending_engagement: list[dict[str, Any]] = Field(default_factory=list)
    seen_ids: SeenIds = Field(default_factory=lambda: SeenIds.of([]), exclude=True)
    """The latest ``SEEN_WINDOW`` message ids; stored (and given to the constructor) as :attr:`seen`."""
    last_activity_at: datetime | None = None
    # -- engagement history for the detectors --------------------------------------------
    stage_first_entered: dict[str, datetime] = Field(default_factory=dict)
    last_buyer_response_at: datetime | None = None
    unanswered_touch_times: list[datetime] = Field(default_factory=list)
    """Outbound touches since the buyer last responded (the first ones, at most 20)."""
    response_times: list[float] = Field(default_factory=list)
    """Seconds from the first unanswered outbound touch to the buyer response that answered it."""
    buyer_engagements: list[BuyerEngagement] = Field(default_factory=list)
    last_economic_buyer_at: datetime | None = None
    meetings_held: int = 0
    longest_meeting_minutes: float = 0
    largest_meeting_attendees: int = 0
    # -- alert lifecycle ----------------------------------------------------------------
    open_alerts: dict[str, OpenAlert] = Field(default_factory=dict)
    episodes: dict[str, int] = Field(default_factory=dict)
    evaluated_at: datetime | None = None
    """The deal's detector clock: the latest moment its conditions were evaluated."""
    wake: datetime | None = None
    wake_known: bool = False
    """``wake``: the next moment after ``evaluated_at`` the conditions may change, while ``wake_known``."""
    # -- appended later (stored states keep the field order) ------------------------------
    last_substantive_at: datetime | None = None
    """The latest substantive discussion with the buyer (``[G6]``): a held meeting, a connected
    call, or pricing feedback."""
    stakeholders: list[str] = Field(default_factory=list)
    """Every buyer contact the deal has met or added (at most :data:`MAX_STAKEHOLDERS`, sorted)."""
    momentum_reported: dict[str, datetime] = Field(default_factory=dict)
    """When each progress signal was last reported (a signal is reported once per window)."""
    blockers: dict[str, OpenBlocker] = Field(default_factory=dict)
    """The open blockers by ``blocker_id`` (a resolved one is dropped; the facts keep it)."""
    conversations_in_stage: int = 0
    """Substantive buyer conversations (held meetings, connected calls) since entering the stage (``[G5]``)."""
    # -- in memory only (see CACHES) -----------------------------------------------------
    dirty: int = Field(default=ALL_DIRTY, exclude=True)
    """The bits (:data:`FIELD_BITS`) of the detector inputs changed since ``answers`` were found."""
    answers: Any = Field(default=None, exclude=True)
    """The detectors' latest answers (``processors.core.detection.incremental.Answers``), or ``None``."""
    engagement_times: list[datetime] | None = Field(default=None, exclude=True)
    """``[e.at for e in buyer_engagements]`` when known (kept by ``evolve``), else ``None``."""
    satisfied_criteria: frozenset[str] | None = Field(default=None, exclude=True)
    """:meth:`satisfied` when known (kept by :meth:`updated`), else ``None``."""
    none_snoozed: bool = Field(default=False, exclude=True)
    """True when it is known that no open alert is snoozed (kept by the alert lifecycle); an update
    of ``open_alerts`` that does not say forgets it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _seen_as_ids(cls, data: Any) -> Any:
        """``seen`` (a list of ids, as stored) given as its :class:`SeenIds`."""
        if isinstance(data, dict) and "seen" in data:
            data = {**data, "seen_ids": SeenIds.of(_ID_LIST.validate_python(data["seen"]))}
            del data["seen"]
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def seen(self) -> list[str]:
        """The latest ``SEEN_WINDOW`` message ids, oldest first."""
        return self.seen_ids.ids()


if TYPE_CHECKING:
    _Fields = DealRecord
else:
    _Fields = object


class DealState(_Fields):
    """Everything the decider needs to know about one deal: the fields of :class:`DealRecord`.

    A plain object, not a pydantic model: the core reads about 60 of its attributes a message,
    and a pydantic model answers each about four times more slowly (its ``__getattr__`` hook keeps
    the interpreter from specialising the lookup). It is validated and serialized as its
    :meth:`record`. (Type checkers see the record's fields as its base class.)

    A state is changed only through :meth:`updated` (``evolve`` and the alert lifecycle use it):
    it keeps the in-memory values (:data:`CACHES`) in step.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, **values: Any) -> None:
        """The state of these field values, validated: ``DealState(deal_id="d1", stage="proposal")``."""
        self.__dict__ = DealRecord(**values).__dict__

    @classmethod
    def of(cls, record: DealRecord) -> DealState:
        """The state of ``record``'s values."""
        state = _new(cls)
        state.__dict__ = dict(record.__dict__)
        return state

    @classmethod
    def validated(cls, data: Any) -> DealState:
        """The state of ``data`` (as stored: ``seen`` for the id window), validated."""
        return cls.of(DealRecord.model_validate(data))

    @classmethod
    def from_json(cls, raw: str | bytes) -> DealState:
        """The state of a :class:`DealRecord`'s JSON (``model_dump_json``)."""
        return cls.of(DealRecord.model_validate_json(raw))

    def record(self) -> DealRecord:
        """This state as a :class:`DealRecord` (its values, not validated again)."""
        return built_from(DealRecord, dict(self.__dict__), _EVERY_FIELD)

    @property
    def seen(self) -> list[str]:
        """The latest ``SEEN_WINDOW`` message ids, oldest first."""
        return self.seen_ids.ids()

    def __repr__(self) -> str:
        return f"DealState({self.deal_id!r}, status={self.status!r}, stage={self.stage!r})"

    @property
    def exists(self) -> bool:
        return self.status != "pending"

    @property
    def is_open(self) -> bool:
        """Created and not closed: the deal takes commands and its engagement counts."""
        return self.status == "open"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def satisfied(self) -> frozenset[str]:
        """Criteria with at least one valid piece of evidence."""
        known = self.satisfied_criteria
        return known if known is not None else _satisfied(self.evidence)

    @property
    def first_unanswered_at(self) -> datetime | None:
        return self.unanswered_touch_times[0] if self.unanswered_touch_times else None

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.seen_ids

    def field_value(self, name: str) -> Any:
        return getattr(self, name, None)

    def buyer_engagement_times(self) -> list[datetime]:
        """The times of the buyer engagements (sorted, as they are)."""
        times = self.engagement_times
        return times if times is not None else [e.at for e in self.buyer_engagements]

    def __eq__(self, other: object) -> bool:
        """Equal field values, the in-memory caches aside."""
        if not isinstance(other, DealState):
            return NotImplemented
        mine, theirs = self.__dict__, other.__dict__
        return all(mine[name] == theirs[name] for name in mine if name not in CACHES)

    def updated(self, update: dict[str, Any]) -> DealState:
        """A copy with ``update`` applied (like pydantic's ``model_copy(update=update)``).

        The values are trusted (not validated) and unchanged containers are shared, so states must
        never be mutated in place. Changed detector inputs are marked in
        ``dirty``; new buyer engagements without their times drop the remembered times, and new
        evidence without its ``satisfied_criteria`` has them found again.
        """
        data = {**self.__dict__, **update}
        if not _DETECTOR_FIELD_SET.isdisjoint(update):
            data["dirty"] = self.dirty | _bits_of(update)
            if "buyer_engagements" in update and "engagement_times" not in update:
                data["engagement_times"] = None
        if "evidence" in update and "satisfied_criteria" not in update:
            data["satisfied_criteria"] = _satisfied(update["evidence"])
        if "open_alerts" in update and "none_snoozed" not in update:
            data["none_snoozed"] = False
        state = _new(DealState)
        state.__dict__ = data
        return state


def _bits_of(update: dict[str, Any]) -> int:
    bits = 0
    for name in update:
        bits |= FIELD_BITS.get(name, 0)
    return bits


def _satisfied(evidence: list[EvidenceEntry]) -> frozenset[str]:
    return frozenset(entry.criterion for entry in evidence if entry.valid)


_EVERY_FIELD: set[str] = set(DealRecord.model_fields)
_new = object.__new__
_GIVEN_EVIDENCE = {"criterion", "recorded_at", "source_event_id"}
_GIVEN_ENGAGEMENT = {"at", "contacts"}
