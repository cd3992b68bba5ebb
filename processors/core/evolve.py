"""``evolve(state, fact) -> state``: the only way deal state changes.

Returns a new state and never mutates its input (containers that change are replaced).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from processors.core.activity import after_engagement
from processors.core.detection.control import acknowledged, find_open, snoozed, with_alert
from processors.core.gates import contacts_after
from processors.core.state import MAX_PENDING_ENGAGEMENT, DealState, EvidenceEntry, OpenBlocker
from schemas.base import NextStep
from schemas.facts import (
    AlertAcknowledged,
    AlertSnoozed,
    BlockerIdentified,
    BlockerResolved,
    DealCreated,
    DealDisqualified,
    DealLost,
    DealNurtured,
    DealUpdated,
    DealWon,
    EngagementRecorded,
    EvidenceInvalidated,
    EvidenceRecorded,
    Fact,
    StageAdvanced,
    StageRegressed,
)


def _created(state: DealState, fact: DealCreated) -> dict[str, Any]:
    return {
        "status": "open",
        "name": fact.name,
        "owner_id": fact.owner_id,
        "amount": fact.amount,
        "currency": fact.currency,
        "close_date": fact.close_date,
        "stage": fact.stage,
        "stage_entered_at": fact.occurred_at,
        "created_at": fact.occurred_at,
        "pending_engagement": [],
        "stage_first_entered": {fact.stage: fact.occurred_at, **state.stage_first_entered},
        "conversations_in_stage": 0,
    }


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "amount":
        return Decimal(str(value))
    if name == "close_date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if name == "next_step":
        return NextStep.model_validate(value)
    return value


def _updated(state: DealState, fact: DealUpdated) -> dict[str, Any]:
    return {name: _coerce(name, change.new) for name, change in fact.changes.items()}


def _engagement(state: DealState, fact: EngagementRecorded) -> dict[str, Any]:
    if state.is_terminal:
        return {}  # a closed deal stays closed: no detector reads its activity history any more
    contacts = contacts_after(fact.engagement, state.contacts)
    update = after_engagement(state, fact.engagement, fact.occurred_at, contacts)
    if contacts is not state.contacts:
        update["contacts"] = contacts
    if fact.momentum:
        update |= _momentum(state, fact)
    if not state.exists:
        update["pending_engagement"] = [*state.pending_engagement, fact.engagement][-MAX_PENDING_ENGAGEMENT:]
    return update


def _momentum(state: DealState, fact: EngagementRecorded) -> dict[str, Any]:
    """When the engagement's reported progress signals were reported (once per window)."""
    return {"momentum_reported": {**state.momentum_reported, **dict.fromkeys(fact.momentum, fact.occurred_at)}}


def _acknowledged(state: DealState, fact: AlertAcknowledged) -> dict[str, Any]:
    found = find_open(state, fact.alert_id)
    if found is None:
        return {}
    change = acknowledged(found[1].alert, fact.acknowledged_by, fact.occurred_at)
    return {"open_alerts": with_alert(state, fact.alert_id, change)}


def _snoozed(state: DealState, fact: AlertSnoozed) -> dict[str, Any]:
    found = find_open(state, fact.alert_id)
    if found is None:
        return {}
    return {"open_alerts": with_alert(state, fact.alert_id, snoozed(found[1].alert, fact.until, fact.occurred_at))}


def _evidence(state: DealState, fact: EvidenceRecorded) -> dict[str, Any]:
    satisfied = state.satisfied()
    if fact.criterion in satisfied:
        return {}  # already satisfied: the gates need no second entry (the fact keeps the evidence)
    entry = EvidenceEntry.of(fact.criterion, fact.occurred_at, fact.source_event_id)
    return {"evidence": [*_valid(state), entry], "satisfied_criteria": satisfied | {fact.criterion}}


def _valid(state: DealState) -> list[EvidenceEntry]:
    """The deal's valid evidence entries (all of them when there are as many criteria satisfied)."""
    if len(state.satisfied()) == len(state.evidence):
        return state.evidence
    return [entry for entry in state.evidence if entry.valid]


def _invalidated(state: DealState, fact: EvidenceInvalidated) -> dict[str, Any]:
    return {"evidence": [entry for entry in state.evidence if entry.valid and entry.criterion != fact.criterion],
            "satisfied_criteria": state.satisfied() - {fact.criterion}}


def _moved(state: DealState, fact: StageRegressed | DealNurtured) -> dict[str, Any]:
    return {
        "stage": fact.to_stage,
        "stage_entered_at": fact.occurred_at,
        "stage_first_entered": {fact.to_stage: fact.occurred_at, **state.stage_first_entered},
        "conversations_in_stage": 0,
    }


def _blocker(state: DealState, fact: BlockerIdentified) -> dict[str, Any]:
    blocker = OpenBlocker(blocker_id=fact.blocker_id, code=fact.code, stall_point=fact.stall_point,
                          identified_at=fact.occurred_at, resolution_owner=fact.resolution_owner,
                          action=fact.resolution_action, due_date=fact.due_date)
    return {"blockers": {**state.blockers, fact.blocker_id: blocker}}


def _unblocked(state: DealState, fact: BlockerResolved) -> dict[str, Any]:
    return {"blockers": {key: value for key, value in state.blockers.items() if key != fact.blocker_id}}


def _advanced(state: DealState, fact: StageAdvanced) -> dict[str, Any]:
    update = _moved(state, fact)  # type: ignore[arg-type]
    if fact.next_step is not None:
        update["next_step"] = fact.next_step
    return update


def _closed(state: DealState, fact: DealDisqualified | DealWon | DealLost) -> dict[str, Any]:
    # Closed for good: what only the gates and detectors of an open deal read is dropped, so a
    # closed deal's state stays small (its history lives in the facts and the projections).
    return {"status": fact.to_stage, "evidence": [], "buyer_engagements": [], "unanswered_touch_times": [],
            "response_times": [], "pending_engagement": [], "blockers": {}}


_APPLY: dict[str, Callable[[DealState, Any], dict[str, Any]]] = {
    "deal.created": _created,
    "deal.updated": _updated,
    "engagement.recorded": _engagement,
    "evidence.recorded": _evidence,
    "evidence.invalidated": _invalidated,
    "stage.advanced": _advanced,
    "stage.regressed": _moved,
    "deal.nurtured": _moved,
    "deal.disqualified": _closed,
    "deal.won": _closed,
    "deal.lost": _closed,
    "alert.acknowledged": _acknowledged,
    "alert.snoozed": _snoozed,
    "blocker.identified": _blocker,
    "blocker.resolved": _unblocked,
}

NOT_ACTIVITY = frozenset({"command.rejected", "alert.acknowledged", "alert.snoozed"})
"""Facts of a message that is not activity with the deal: a refused command, handling an alert."""


def is_activity(fact: Fact) -> bool:
    """Engagement with the deal, or an accepted command that changed it (not an empty update)."""
    kind = fact.type  # type: ignore[attr-defined]
    if kind == "deal.updated":
        return bool(fact.changes)  # type: ignore[attr-defined]
    return kind not in NOT_ACTIVITY


def evolve(state: DealState, fact: Fact) -> DealState:
    """The deal state after ``fact``."""
    apply = _APPLY.get(fact.type)  # type: ignore[attr-defined]
    update = apply(state, fact) if apply else {}
    if state.wake_known:
        update["wake_known"] = False  # the deal changed: its next wake-up must be found again
    caused_by = fact.caused_by
    if caused_by is not None:
        seen_ids = state.seen_ids
        if caused_by not in seen_ids:
            update["seen_ids"] = seen_ids.added(caused_by)
        last, at = state.last_activity_at, fact.occurred_at
        if (last is None or at > last) and is_activity(fact):
            update["last_activity_at"] = at
    return state.updated(update) if update else state


def replay(deal_id: str, facts: Iterable[Fact]) -> DealState:
    """Rebuild a deal's state from its facts."""
    state = DealState(deal_id=deal_id)
    for fact in facts:
        state = evolve(state, fact)
    return state
