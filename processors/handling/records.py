"""One inbound record, start to finish, shared by the live worker and the backtest.

``handle_record`` validates the bytes, checks the key, runs the core and returns what to
publish; it never raises for bad input. The shells only move bytes and persist state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from processors.core import DealState, Decision, process, tick
from processors.handling.deadletters import dead_letter
from schemas.deadletter import DeadLetter
from schemas.inbound import InboundKind, InvalidMessage, parse_inbound
from schemas.playbook import Playbook

log = logging.getLogger("dealflow.handling")

StateLoader = Callable[[str], DealState]


@dataclass
class Outcome:
    """What handling one record produced."""

    decision: Decision = field(default_factory=Decision)
    state: DealState | None = None
    dead_letter: DeadLetter | None = None
    message_type: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int | None = None
    offset: int | None = None


def _dead(raw: bytes | None, exc: InvalidMessage, origin: Origin, now: datetime) -> Outcome:
    letter = dead_letter(raw, exc.reason, exc.field, code=exc.code, topic=origin.topic, partition=origin.partition,
                         offset=origin.offset, at=now)
    return Outcome(dead_letter=letter)


def handle_record(
    raw: bytes | None,
    key: bytes | None,
    kind: InboundKind | None,
    origin: Origin,
    load_state: StateLoader,
    playbook: Playbook,
    now: datetime,
) -> Outcome:
    """Validate ``raw`` and run it through the core; bad input becomes a dead letter."""
    try:
        message = parse_inbound(raw if raw is not None else b"", kind)
        if key is not None and key.decode("utf-8", "replace") != message.deal_id:
            raise InvalidMessage(
                f"Kafka key {key.decode('utf-8', 'replace')!r} is not the message's deal_id "
                f"{message.deal_id!r} (messages must be keyed by deal_id)",
                "deal_id",
                code="wrong_key",
            )
    except InvalidMessage as exc:
        return _dead(raw, exc, origin, now)
    try:
        state = load_state(message.deal_id)
        decision, new_state = process(message, state, playbook, now)
    except Exception as exc:  # noqa: BLE001 - one bad message must never stop the pipeline
        log.exception("internal error on %s/%s@%s", origin.topic, origin.partition, origin.offset)
        return _dead(raw, InvalidMessage(f"internal error while processing: {type(exc).__name__}: {exc}",
                                    code="internal_error"),
                     origin, now)
    return Outcome(decision=decision, state=new_state, message_type=message.type, occurred_at=message.occurred_at)


def handle_tick(raw: bytes | None, load_state: StateLoader, playbook: Playbook, now: datetime) -> Outcome:
    """A deadline tick for one deal: raise and resolve what its deadlines up to ``now`` changed."""
    try:
        deal_id = json.loads(raw or b"{}")["deal_id"]
    except (ValueError, KeyError, TypeError):
        log.error("ignoring a malformed deadline tick: %r", raw)
        return Outcome()
    try:
        alerts, state = tick(load_state(deal_id), playbook, now)
    except Exception:  # noqa: BLE001 - a failing deal must never stop the pipeline
        log.exception("internal error on the deadline tick of deal %s", deal_id)
        return Outcome()
    return Outcome(decision=Decision(alerts=alerts), state=state)
