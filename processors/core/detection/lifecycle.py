"""The alert lifecycle of condition alerts: raise once per episode, resolve with the same id.

``advance`` moves a deal's detector clock forward, evaluating at every moment a condition may
change (so each alert is raised at the moment its condition became true and resolved at the
moment it cleared), in the same way live and in backtest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processors.core.detection.detectors import Condition
from processors.core.detection.incremental import find
from processors.core.ids import condition_alert_id
from processors.core.state import DealState, OpenAlert
from schemas.alerts import Alert
from schemas.playbook import Playbook


def _raise(state: DealState, condition: Condition, episode: int) -> Alert:
    return Alert(
        alert_id=condition_alert_id(state.deal_id, condition.key, episode),
        type=condition.type,
        deal_id=state.deal_id,
        severity=condition.severity,
        status="raised",
        raised_at=condition.since,
        stage=state.stage,
        owner_id=state.owner_id,
        caused_by=None,
        details=condition.details,
    )


def evaluate(state: DealState, playbook: Playbook, at: datetime) -> tuple[list[Alert], DealState]:
    """Raise what became true and resolve what cleared, as of ``at``.

    The next wake-up moment found on the way is kept in the state (``wake``) until a fact
    changes the deal, so the deadline index and ``advance`` need not evaluate again.
    """
    found = find(state, playbook, at)
    alerts: list[Alert] = []
    open_alerts, episodes = state.open_alerts, state.episodes
    if found.active or open_alerts:  # copied only when something may be raised or resolved
        active = {condition.key: condition for condition in found.active}
        open_alerts, episodes = dict(open_alerts), dict(episodes)
        for key, current in state.open_alerts.items():
            condition = active.get(key)
            if condition is None or condition.identity != current.identity:
                alerts.append(current.alert.model_copy(update={"status": "resolved", "resolved_at": at}))
                del open_alerts[key]
        for key, condition in active.items():
            if key in open_alerts:
                continue
            episodes[key] = episodes.get(key, 0) + 1
            alert = _raise(state, condition, episodes[key])
            open_alerts[key] = OpenAlert(alert=alert, identity=condition.identity)
            alerts.append(alert)
    evaluated_at = max(at, state.evaluated_at or at)
    update: dict[str, Any] = {"evaluated_at": evaluated_at, "wake_known": True,
                              "wake": found.next_wake if evaluated_at == at else None}
    if evaluated_at != at:
        update["wake_known"] = False
    if alerts:
        update |= {"open_alerts": open_alerts, "episodes": episodes}
    return alerts, state.updated(update)


def next_wake(state: DealState, playbook: Playbook, after: datetime | None = None) -> datetime | None:
    """The next moment after ``after`` (default: the deal's detector clock) its alerts may change."""
    moment = after or state.evaluated_at
    if moment is None:
        return None
    if after is None and state.wake_known:
        return state.wake
    return find(state, playbook, moment).next_wake


def advance(state: DealState, playbook: Playbook, until: datetime) -> tuple[list[Alert], DealState]:
    """Evaluate at every wake-up moment up to ``until`` (inclusive), in time order."""
    alerts: list[Alert] = []
    if state.evaluated_at is None:
        return alerts, state
    while (moment := next_wake(state, playbook)) is not None and moment <= until:
        raised, state = evaluate(state, playbook, moment)
        alerts += raised
    if until > state.evaluated_at:  # type: ignore[operator]
        # Nothing changes before the next wake-up, so it stays valid as the clock moves on.
        state = state.updated({"evaluated_at": until})
    return alerts, state
