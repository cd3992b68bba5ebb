"""The manager's commands: acknowledging and snoozing alerts, blockers with owners, interventions."""

from __future__ import annotations

from processors.core.context import Context
from processors.core.detection.control import acknowledged, find_open, snoozed
from processors.core.handlers import refuse_unless_open, requested
from processors.core.playbook_view import view_of
from processors.core.state import OpenAlert
from schemas.commands import AlertAcknowledge, AlertSnooze, BlockerRecord, BlockerResolve, InterventionRecord
from schemas.facts import AlertAcknowledged, AlertSnoozed, BlockerIdentified, BlockerResolved, InterventionRecorded


# -- alert control --------------------------------------------------------------------------
def _refuse_unknown_alert(ctx: Context, alert_id: str) -> OpenAlert | None:
    """The deal's open alert ``alert_id``, or None after refusing the command (no notification)."""
    found = find_open(ctx.state, alert_id) if ctx.state.exists else None
    if found is None:
        ctx.reject("unknown_alert", f"deal {ctx.state.deal_id!r} has no open alert {alert_id!r}",
                   requested(ctx, alert_id), notify=False)
        return None
    return found[1]


def acknowledge(ctx: Context) -> None:
    """``alert.acknowledge``: someone owns the open alert; its later changes notify nobody."""
    msg: AlertAcknowledge = ctx.message  # type: ignore[assignment]
    entry = _refuse_unknown_alert(ctx, msg.alert_id)
    if entry is None:
        return
    ctx.add(AlertAcknowledged, alert_id=msg.alert_id, alert_type=entry.alert.type,
            acknowledged_by=msg.acknowledged_by, note=msg.note)
    ctx.alerts.append(acknowledged(entry.alert, msg.acknowledged_by, msg.occurred_at))


def snooze(ctx: Context) -> None:
    """``alert.snooze``: silence the open alert until ``until``; it comes back then if it still holds."""
    msg: AlertSnooze = ctx.message  # type: ignore[assignment]
    entry = _refuse_unknown_alert(ctx, msg.alert_id)
    if entry is None:
        return
    if msg.until <= msg.occurred_at:
        ctx.reject("invalid_snooze", f"snooze until {msg.until.isoformat()} is not after the command's own time",
                   requested(ctx, msg.alert_id), notify=False)
        return
    ctx.add(AlertSnoozed, alert_id=msg.alert_id, alert_type=entry.alert.type, until=msg.until,
            snoozed_by=msg.snoozed_by, note=msg.note)
    ctx.alerts.append(snoozed(entry.alert, msg.until, msg.occurred_at))


# -- blockers and interventions ([B1]-[B7], [M3]) --------------------------------------------
def record_blocker(ctx: Context) -> None:
    """``blocker.record``: what blocks the deal, its stall point, and who resolves it by when."""
    msg: BlockerRecord = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, msg.blocker_id, notify=False):
        return
    view = view_of(ctx.playbook)
    if msg.code not in view.blocker_codes:
        ctx.reject("unknown_blocker_code", f"{msg.code!r} is not one of {', '.join(sorted(view.blocker_codes))}",
                   requested(ctx, msg.blocker_id), notify=False)
        return
    if msg.stall_point is not None and msg.stall_point not in view.stall_points:
        ctx.reject("unknown_stall_point", f"{msg.stall_point!r} is not a stall point of the playbook",
                   requested(ctx, msg.blocker_id), notify=False)
        return
    if msg.blocker_id in ctx.state.blockers:
        ctx.reject("blocker_exists", f"blocker {msg.blocker_id!r} is open already (resolve it first)",
                   requested(ctx, msg.blocker_id), notify=False)
        return
    resolution = msg.resolution
    ctx.add(BlockerIdentified, blocker_id=msg.blocker_id, code=msg.code, stall_point=msg.stall_point,
            stage=ctx.state.stage, description=msg.description, identified_by=msg.identified_by,
            resolution_owner=resolution.owner, resolution_action=resolution.action, due_date=resolution.due_date)


def resolve_blocker(ctx: Context) -> None:
    """``blocker.resolve``: the blocker is gone (or cannot be), with the outcome."""
    msg: BlockerResolve = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, msg.blocker_id, notify=False):
        return
    blocker = ctx.state.blockers.get(msg.blocker_id)
    if blocker is None:
        ctx.reject("unknown_blocker", f"deal {ctx.state.deal_id!r} has no open blocker {msg.blocker_id!r}",
                   requested(ctx, msg.blocker_id), notify=False)
        return
    days = round(max(0.0, (msg.occurred_at - blocker.identified_at).total_seconds() / 86400), 4)
    ctx.add(BlockerResolved, blocker_id=msg.blocker_id, code=blocker.code, outcome=msg.outcome,
            resolved_by=msg.resolved_by, note=msg.note, days_open=days)


def record_intervention(ctx: Context) -> None:
    """``intervention.record`` (``[M3]``): what a manager did for the deal."""
    msg: InterventionRecord = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, msg.kind, notify=False):
        return
    ctx.add(InterventionRecorded, kind=msg.kind, stage=ctx.state.stage, recorded_by=msg.recorded_by, note=msg.note)
