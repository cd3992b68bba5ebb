"""The decider: ``process(message, state, playbook, now) -> (Decision, state)``.

The :class:`Decision` holds the message's facts and alerts; the state is the deal after them.

Every rule of the gates issue lives here or in :mod:`processors.core.gates`; nothing here
does I/O. Facts take the message's event time, so live and backtest agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.core import handlers, manager_handlers
from processors.core.context import Context
from processors.core.detection.lifecycle import advance, evaluate, fire_due
from processors.core.evolve import evolve
from processors.core.playbook_view import for_owner
from processors.core.state import DealState
from schemas.alerts import Alert
from schemas.commands import (
    AlertAcknowledge,
    AlertSnooze,
    BlockerRecord,
    BlockerResolve,
    DealClose,
    DealCreate,
    DealDisqualify,
    DealUpdate,
    EvidenceRecord,
    InterventionRecord,
    StageChange,
)
from schemas.facts import Fact
from schemas.inbound import Inbound
from schemas.playbook import Playbook


@dataclass
class Decision:
    """What one message caused: facts for the event log and alerts for the alert topic."""

    facts: list[Fact] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


_HANDLERS: dict[type, Any] = {
    DealCreate: handlers.create,
    DealUpdate: handlers.update,
    EvidenceRecord: handlers.record_evidence,
    StageChange: handlers.change_stage,
    DealDisqualify: handlers.disqualify,
    DealClose: handlers.close,
    AlertAcknowledge: manager_handlers.acknowledge,
    AlertSnooze: manager_handlers.snooze,
    BlockerRecord: manager_handlers.record_blocker,
    BlockerResolve: manager_handlers.resolve_blocker,
    InterventionRecord: manager_handlers.record_intervention,
}


def _decide(message: Inbound, state: DealState, playbook: Playbook, now: datetime) -> Decision:
    """What a message the deal has not seen means for it: its facts and alerts."""
    ctx = Context(message=message, state=state, playbook=playbook, now=now)
    handler = _HANDLERS.get(type(message), handlers.engagement)
    handler(ctx)
    return Decision(facts=ctx.facts, alerts=ctx.alerts)


def process(
    message: Inbound, state: DealState, playbook: Playbook, now: datetime
) -> tuple[Decision, DealState]:
    """Handle one message completely: the deal's due deadlines up to the message's event time,
    the message itself, the conditions it changed, then the deadlines up to ``now``.

    ``now`` is the processing clock (wall clock live, event time in backtest); facts carry
    the message's own ``occurred_at``. A message already seen yields nothing. The deal's
    detectors use its owner's team's thresholds (``playbook.for_team``).
    """
    if state.has_seen(message.event_id):
        return Decision(), state
    own = for_owner(playbook, state.owner_id)
    # A deal with a detector clock exists, so it is evaluated after the message, which moves the clock on.
    before, state = fire_due(state, own, message.occurred_at)
    decision = _decide(message, state, own, now)
    for fact in decision.facts:
        state = evolve(state, fact)
    own = for_owner(playbook, state.owner_id)  # the owner, so the team, may have changed
    at = max(message.occurred_at, state.evaluated_at or message.occurred_at)
    changed, state = evaluate(state, own, at) if state.exists else ([], state)
    after, state = advance(state, own, now)
    decision.alerts = before + decision.alerts + changed + after
    return decision, state


def tick(state: DealState, playbook: Playbook, now: datetime) -> tuple[list[Alert], DealState]:
    """The clock moved to ``now``: raise and resolve what the deal's deadlines up to it changed."""
    return advance(state, for_owner(playbook, state.owner_id), now)
