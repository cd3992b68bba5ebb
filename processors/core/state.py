"""Per-deal state, rebuilt from facts by ``evolve``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import NextStep

Status = Literal["pending", "open", "won", "lost", "disqualified"]
TERMINAL: frozenset[str] = frozenset({"won", "lost", "disqualified"})


class EvidenceEntry(BaseModel):
    """One recorded piece of evidence; ``valid`` turns false when a regression invalidates it."""

    model_config = ConfigDict(frozen=True)

    criterion: str
    kind: str
    reference: str
    summary: str | None = None
    recorded_by: str
    recorded_at: datetime
    source_event_id: str
    valid: bool = True


class DealState(BaseModel):
    """Everything the decider needs to know about one deal.

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
    seen: list[str] = Field(default_factory=list)
    last_activity_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.status != "pending"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def satisfied(self) -> set[str]:
        """Criteria with at least one valid piece of evidence."""
        return {entry.criterion for entry in self.evidence if entry.valid}

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.seen

    def field_value(self, name: str) -> Any:
        return getattr(self, name, None)
