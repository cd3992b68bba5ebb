"""The lifecycle of condition alerts: one open alert per condition, changed in place, resolved once.

An episode of a condition (deal, type, rule) is raised when it becomes true and keeps its
``alert_id`` until it is resolved; while it is open, a change of severity (an escalation), of
live details, or the end of a snooze is published again as ``status: "updated"``.

``advance`` moves a deal's detector clock forward, evaluating at every moment a condition may
change (so each alert is raised at the moment its condition became true and resolved at the
moment it cleared), in the same way live and in backtest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processors.core.detection.detectors import Condition
from processors.core.detection.incremental import Answers, answers_at
from processors.core.ids import condition_alert_id
from processors.core.playbook_view import addressing, coaching_for, for_owner
from processors.core.state import DealState, OpenAlert
from schemas.alerts import Alert
from schemas.base import copy_with, trusted
from schemas.playbook import Playbook

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _raise(state: DealState, condition: Condition, episode: int, playbook: Playbook) -> Alert:
    team, manager, addressed_to = addressing(playbook, state.owner_id, condition.type, condition.severity)
    return trusted(
        Alert,
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
        kind="condition",
        team=team,
        updated_at=condition.since,
        notify=True,
        manager=manager,
        addressed_to=addressed_to,
        coaching=coaching_for(playbook, condition.type, condition.rule),
    )


def is_snoozed(alert: Alert, at: datetime) -> bool:
    """Whether ``alert`` is snoozed at ``at``."""
    return alert.snoozed_until is not None and at < alert.snoozed_until


def _changed(state: DealState, current: Alert, condition: Condition, at: datetime,
             playbook: Playbook) -> Alert | None:
    """The update of an open alert whose condition holds at ``at`` (same episode), if anything changed."""
    if condition.severity == current.severity and current.snoozed_until is None and not condition.live:
        return None  # the common case, decided without the rest
    escalated = SEVERITY_RANK[condition.severity] > SEVERITY_RANK[current.severity]
    snooze_over = current.snoozed_until is not None and not is_snoozed(current, at)
    if not (condition.severity != current.severity or snooze_over
            or (condition.live and condition.details != current.details)):
        return None
    quiet = current.acknowledged_by is not None or is_snoozed(current, at)  # a snooze's end asked to be told
    team, manager, addressed_to = addressing(playbook, state.owner_id, condition.type, condition.severity)
    return copy_with(current, {
        "status": "updated", "severity": condition.severity, "details": condition.details,
        "stage": state.stage, "owner_id": state.owner_id, "team": team, "manager": manager,
        "addressed_to": addressed_to, "updated_at": at,
        "snoozed_until": None if snooze_over else current.snoozed_until,
        "notify": snooze_over or (escalated and not quiet), "revision": current.revision + 1,
    })


def _reconcile(state: DealState, active: dict[str, Condition], at: datetime,
               update: dict[str, Any], playbook: Playbook, scope: set[str] | None = None) -> list[Alert]:
    """Resolve the open alerts whose condition cleared (or is a new episode), update the changed
    ones, raise the new ones; ``active``: the active conditions by key.

    ``scope``: the only condition keys that may have changed (``None``: every key); then
    ``active`` holds the conditions of those keys, and the other open alerts stay as they are.
    """
    alerts: list[Alert] = []
    open_alerts, episodes = state.open_alerts, state.episodes
    if not active and not open_alerts:
        return alerts
    resolved: list[str] = []
    changed: dict[str, Alert] = {}
    for key, current in open_alerts.items():
        if scope is not None and key not in scope:
            continue
        condition = active.get(key)
        if condition is None or condition.identity != current.identity:
            resolved.append(key)
            continue
        alert = current.alert  # the same episode: unchanged, unless (see _changed)
        if condition.severity == alert.severity and alert.snoozed_until is None and not condition.live:
            continue
        change = _changed(state, alert, condition, at, playbook)
        if change is not None:
            changed[key] = change
    raised = [key for key in active if key not in open_alerts or key in resolved]
    if not resolved and not raised and not changed:
        return alerts
    open_alerts = dict(open_alerts)
    for key in resolved:
        last = open_alerts.pop(key).alert
        alerts.append(copy_with(last, {"status": "resolved", "resolved_at": at, "updated_at": at,
                                     "notify": False, "revision": last.revision + 1}))
    for key, alert in changed.items():
        open_alerts[key] = copy_with(open_alerts[key], {"alert": alert})  # the same episode
        alerts.append(alert)
    if raised:
        update["episodes"] = episodes = dict(episodes)
    for key in raised:
        condition = active[key]
        episodes[key] = episodes.get(key, 0) + 1
        alert = _raise(state, condition, episodes[key], playbook)
        open_alerts[key] = trusted(OpenAlert, alert=alert, identity=condition.identity)
        alerts.append(alert)
    update["open_alerts"] = open_alerts
    return alerts


def _snooze_end(open_alerts: dict[str, OpenAlert], after: datetime | None = None) -> datetime | None:
    """The first moment (after ``after``, if given) a snooze of an open alert ends: it comes
    back then, or is updated."""
    end: datetime | None = None
    for entry in open_alerts.values():
        until = entry.alert.snoozed_until
        if until is not None and (after is None or until > after) and (end is None or until < end):
            end = until
    return end


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)


def _in_scope(known: Answers | None, answers: Answers,
              snooze_over: bool) -> tuple[dict[str, Condition], set[str] | None]:
    """The active conditions to reconcile by key, and the keys they may change (``None``: all).

    The open alerts follow ``known``'s conditions (or ``known`` is ``None``) and each key is one
    detector's, so when no snooze ended only the keys of the detectors whose conditions changed
    since can change.
    """
    active: dict[str, Condition] = {}
    if known is None or answers.changed is None or snooze_over:
        for condition in answers.active:
            active[condition.key] = condition
        return active, None
    scope: set[str] = set()
    for i in answers.changed:
        for condition in known.conditions[i]:
            scope.add(condition.key)
        for condition in answers.conditions[i]:
            active[condition.key] = condition
    scope.update(active)
    return active, scope


def evaluate(state: DealState, playbook: Playbook, at: datetime) -> tuple[list[Alert], DealState]:
    """Raise what became true, update what changed and resolve what cleared, as of ``at``.

    The next wake-up moment found on the way is kept in the state (``wake``) until a fact
    changes the deal, so the deadline index and ``advance`` need not evaluate again; the
    detectors' answers are kept too (``answers``), so the next evaluation re-runs only the
    detectors whose inputs changed or whose wake-up came. The open alerts always follow the
    kept answers' conditions, so they are reconciled only when a condition changed (or a
    snooze ended), and then only for the detectors whose conditions changed.
    """
    known: Answers | None = state.answers
    answers = answers_at(state, playbook, at)
    update: dict[str, Any] = {}
    alerts: list[Alert] = []
    snooze_end = _snooze_end(state.open_alerts) if state.open_alerts and not state.none_snoozed else None
    snooze_over = snooze_end is not None and snooze_end <= at
    if answers is None:
        alerts = _reconcile(state, {}, at, update, playbook)
    else:
        if answers is not known:
            update["answers"], update["dirty"] = answers, 0
        if known is None or answers.active is not known.active or snooze_over:
            active, scope = _in_scope(known, answers, snooze_over)
            alerts = _reconcile(state, active, at, update, playbook, scope)
    if "open_alerts" in update and snooze_end is not None:  # (reconciling snoozes no alert)
        snooze_end = _snooze_end(update["open_alerts"])
    update["none_snoozed"] = snooze_end is None
    evaluated_at = max(at, state.evaluated_at or at)
    update["evaluated_at"] = evaluated_at
    update["wake_known"] = evaluated_at == at
    wake = _earliest(answers.wake if answers is not None else None, snooze_end)
    update["wake"] = wake if evaluated_at == at else None
    return alerts, state.updated(update)


def next_wake(state: DealState, playbook: Playbook, after: datetime | None = None) -> datetime | None:
    """The next moment after ``after`` (default: the deal's detector clock) its alerts may change.

    ``playbook``: the shell's playbook; the deal's owner's team thresholds apply.
    """
    if after is None and state.wake_known and state.evaluated_at is not None:
        return state.wake  # kept by the last evaluation (see _next_wake), whatever the playbook
    return _next_wake(state, for_owner(playbook, state.owner_id), after)


def _next_wake(state: DealState, playbook: Playbook, after: datetime | None = None) -> datetime | None:
    moment = after or state.evaluated_at
    if moment is None:
        return None
    if after is None and state.wake_known:
        return state.wake
    answers = answers_at(state, playbook, moment)
    snooze_end = None if state.none_snoozed else _snooze_end(state.open_alerts, moment)
    return _earliest(answers.wake if answers is not None else None, snooze_end)


def fire_due(state: DealState, playbook: Playbook, until: datetime) -> tuple[list[Alert], DealState]:
    """Evaluate at every wake-up moment up to ``until`` (inclusive), in time order; the detector
    clock stays at the last of them (:func:`advance` moves it on to ``until``).

    ``playbook``: the deal's own (:func:`processors.core.playbook_view.for_owner`), as for :func:`evaluate`.
    """
    alerts: list[Alert] = []
    if state.evaluated_at is None:
        return alerts, state
    while (moment := _next_wake(state, playbook)) is not None and moment <= until:
        raised, state = evaluate(state, playbook, moment)
        alerts += raised
    return alerts, state


def advance(state: DealState, playbook: Playbook, until: datetime) -> tuple[list[Alert], DealState]:
    """Evaluate at every wake-up moment up to ``until`` (inclusive), in time order, and move the
    detector clock to ``until``.

    ``playbook``: the deal's own (:func:`processors.core.playbook_view.for_owner`), as for :func:`evaluate`.
    """
    alerts, state = fire_due(state, playbook, until)
    if state.evaluated_at is not None and until > state.evaluated_at:
        # Nothing changes before the next wake-up, so it stays valid as the clock moves on.
        state = state.updated({"evaluated_at": until})
    return alerts, state
