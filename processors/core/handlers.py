"""One handler per inbound message type; each appends facts and alerts to the context."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from processors.core.context import Context
from processors.core.engagement_kinds import is_conversation
from processors.core.gates import (
    contacts_after,
    criteria_met_by,
    missing_criteria,
    missing_fields,
    stages_to_clear,
)
from processors.core.momentum import signals
from schemas.base import Evidence, NextStep, json_values, trusted
from schemas.commands import (
    DealClose,
    DealCreate,
    DealDisqualify,
    DealUpdate,
    EvidenceRecord,
    StageChange,
)
from schemas.facts import (
    DealCreated,
    DealDisqualified,
    DealLost,
    DealNurtured,
    DealUpdated,
    DealWon,
    EngagementRecorded,
    EvidenceInvalidated,
    EvidenceRecorded,
    FieldChange,
    RejectionReason,
    StageAdvanced,
    StageRegressed,
)

UPDATABLE_FIELDS = ("name", "owner_id", "amount", "currency", "close_date", "next_step")


def _days_between(start: datetime | None, end: datetime) -> float:
    if start is None:
        return 0.0
    return round(max(0.0, (end - start).total_seconds() / 86400), 4)


def requested(ctx: Context, target: str | None) -> dict[str, Any]:
    return {"type": ctx.message.type, "target": target}


def refuse_unless_open(ctx: Context, target: str | None, notify: bool = True) -> bool:
    """Refuse commands on unknown or terminal deals; ``True`` when refused (``notify``: with ``gate.rejected``)."""
    if ctx.state.is_open:
        return False
    if not ctx.state.exists:
        ctx.reject("unknown_deal", f"deal {ctx.state.deal_id!r} does not exist", requested(ctx, target), notify=notify)
        return True
    if ctx.state.is_terminal:
        ctx.reject("deal_closed", f"deal is closed ({ctx.state.status})", requested(ctx, target), notify=notify)
        return True
    return False


def _evidence_from_engagement(ctx: Context, engagement: dict[str, Any], contacts: dict[str, str]) -> None:
    met = criteria_met_by(engagement, ctx.playbook, contacts)
    if not met:
        return
    satisfied = ctx.state.satisfied()
    unmet = [criterion for criterion in met if criterion not in satisfied]
    if not unmet:
        return
    recorded = {f.criterion for f in ctx.facts if isinstance(f, EvidenceRecorded)}
    kind = "meeting_notes" if engagement["type"] == "meeting.held" else (
        "email" if engagement["type"] == "email.replied" else "other"
    )
    for criterion in unmet:
        if criterion in recorded:
            continue
        ctx.add(
            EvidenceRecorded,
            criterion=criterion,
            evidence=trusted(Evidence, kind=kind, reference=f"{engagement['type']} {engagement['event_id']}"),
            recorded_by=engagement.get("source") or "engagement",
            source_event_id=engagement["event_id"],
        )


# -- engagement ---------------------------------------------------------------------------
def engagement(ctx: Context) -> None:
    """Record engagement; once the deal is open, let it satisfy criteria (``[T4]``)."""
    data = json_values(ctx.message)
    is_open = ctx.state.is_open
    found = signals(ctx.state, data, ctx.message.occurred_at, ctx.playbook) if is_open else []
    ctx.add(EngagementRecorded, engagement_type=ctx.message.type, engagement=data, momentum=found)
    if is_open:
        _evidence_from_engagement(ctx, data, contacts_after(data, ctx.state.contacts))
        if found:
            ctx.alert("momentum.detected", "info", {"signals": found})
        _suggest_nurture(ctx, data)


def _suggest_nurture(ctx: Context, engagement: dict[str, Any]) -> None:
    """``[G5]``: the N-th substantive conversation in the stage, and the exit criteria still unmet."""
    if not is_conversation(engagement):
        return
    nurture, stage = ctx.playbook.nurture, ctx.state.stage or ""
    conversations = ctx.state.conversations_in_stage + 1
    if stage not in nurture.suggest_in_stages or conversations != nurture.suggest_after_conversations:
        return
    recorded = {f.criterion for f in ctx.facts if isinstance(f, EvidenceRecorded)}
    satisfied = ctx.state.satisfied() | recorded
    spec = ctx.playbook.stage(stage)
    missing = [c for c in (spec.exit_criteria if spec is not None else []) if c not in satisfied]
    if missing:
        ctx.alert("deal.nurture_suggested", "info",
                  {"conversations": nurture.suggest_after_conversations, "missing_criteria": missing,
                   "nurture_stage": ctx.playbook.nurture_stage})


# -- commands -----------------------------------------------------------------------------
def create(ctx: Context) -> None:
    """``deal.create``: a new deal in the first stage, or imported into ``stage``."""
    msg: DealCreate = ctx.message  # type: ignore[assignment]
    stage = msg.stage or ctx.playbook.stage_names[0]
    if ctx.state.exists:
        ctx.reject("already_exists", f"deal {ctx.state.deal_id!r} already exists", requested(ctx, stage))
        return
    if stage not in ctx.playbook.stage_names and stage != ctx.playbook.nurture_stage:
        ctx.reject("invalid_transition", f"unknown stage {stage!r}", requested(ctx, stage))
        return
    ctx.add(
        DealCreated,
        name=msg.name,
        owner_id=msg.owner_id,
        amount=msg.amount,
        currency=msg.currency,
        close_date=msg.close_date,
        stage=stage,
        imported=msg.stage is not None,
    )
    contacts = dict(ctx.state.contacts)
    for engagement_data in ctx.state.pending_engagement:
        _evidence_from_engagement(ctx, engagement_data, contacts)


def update(ctx: Context) -> None:
    """``deal.update``: changed fields with their old and new values."""
    msg: DealUpdate = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, None):
        return
    changes: dict[str, FieldChange] = {}
    for name in UPDATABLE_FIELDS:
        new = getattr(msg, name)
        old = getattr(ctx.state, name)
        if new is not None and new != old:
            changes[name] = trusted(FieldChange, old=_jsonable(old), new=_jsonable(new))
    ctx.add(DealUpdated, changes=changes)


def _jsonable(value: Any) -> Any:
    if isinstance(value, NextStep):
        return value.model_dump(mode="json")
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return float(value)


def record_evidence(ctx: Context) -> None:
    """``evidence.record``: marks a criterion satisfied, whatever the deal's stage."""
    msg: EvidenceRecord = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, msg.criterion):
        return
    if not ctx.playbook.has_criterion(msg.criterion):
        ctx.reject("unknown_criterion", f"unknown criterion {msg.criterion!r}",
                   requested(ctx, msg.criterion))
        return
    ctx.add(EvidenceRecorded, criterion=msg.criterion, evidence=msg.evidence,
            recorded_by=msg.recorded_by, source_event_id=msg.event_id)


def _check_reason(ctx: Context, reason: str | None, allowed: list[str], target: str) -> bool:
    """Refuse a missing or unknown reason; ``True`` when refused."""
    if not reason:
        ctx.reject("reason_required", f"moving to {target!r} needs a reason (one of {', '.join(allowed)})",
                   requested(ctx, target))
        return True
    if reason not in allowed:
        ctx.reject("invalid_reason", f"{reason!r} is not one of {', '.join(allowed)}", requested(ctx, target))
        return True
    return False


def change_stage(ctx: Context) -> None:
    """``stage.change``: advance through the gates, regress with a reason, or park in nurture."""
    msg: StageChange = ctx.message  # type: ignore[assignment]
    target, current, playbook = msg.to_stage, ctx.state.stage or "", ctx.playbook
    if refuse_unless_open(ctx, target):
        return
    if target == current:  # a no-op (a CRM syncing the stage again): recorded, nobody to notify
        ctx.reject("invalid_transition", f"deal is already in {target!r}", requested(ctx, target), notify=False)
        return
    days = _days_between(ctx.state.stage_entered_at, msg.occurred_at)
    common = {"from_stage": current, "to_stage": target, "days_in_from_stage": days,
              "requested_by": msg.requested_by}
    if target == playbook.nurture_stage:
        if not _check_reason(ctx, msg.reason, playbook.regression_reasons, target):
            ctx.add(DealNurtured, reason=msg.reason, **common)
        return
    if not playbook.has_stage(target):
        ctx.reject("invalid_transition", f"{target!r} is not an open stage of the playbook",
                   requested(ctx, target))
        return
    if current != playbook.nurture_stage and playbook.index(target) < playbook.index(current):
        _regress(ctx, msg, common)
    else:
        _advance(ctx, msg, common)


def _regress(ctx: Context, msg: StageChange, common: dict[str, Any]) -> None:
    playbook = ctx.playbook
    if _check_reason(ctx, msg.reason, playbook.regression_reasons, msg.to_stage):
        return
    ctx.add(StageRegressed, reason=msg.reason, **common)
    later = playbook.stage_names[playbook.index(msg.to_stage):]
    satisfied = ctx.state.satisfied()
    for stage_name in later:
        stage = playbook.stage(stage_name)
        for criterion in stage.exit_criteria if stage else []:
            if criterion in satisfied:
                ctx.add(EvidenceInvalidated, criterion=criterion,
                        reason=f"regressed to {msg.to_stage} ({msg.reason})")


def _advance(ctx: Context, msg: StageChange, common: dict[str, Any]) -> None:
    playbook, state, target = ctx.playbook, ctx.state, msg.to_stage
    criteria = missing_criteria(state, playbook, stages_to_clear(playbook, state.stage or "", target))
    fields_ = missing_fields(state, playbook, target)
    if criteria or fields_:
        reason: RejectionReason = "exit_criteria_unmet" if criteria else "missing_fields"
        ctx.reject(reason, f"cannot advance to {target!r}: " + ", ".join(criteria + fields_) + " missing",
                   requested(ctx, target), criteria, fields_)
        return
    template = playbook.template_for(target)
    next_step = None
    if template is not None:
        due = (msg.occurred_at.astimezone(timezone.utc) + timedelta(days=template.due_in_days)).date()
        next_step = NextStep(description=template.description, due_date=due)
    ctx.add(StageAdvanced, next_step=next_step, **common)
    stage = playbook.stage(target)
    if stage is not None and stage.late:
        ctx.alert("deal.late_stage_entered", "info",
                  {"from_stage": common["from_stage"], "to_stage": target}, stage=target)
    if stage is not None and stage.review_stakeholders:
        ctx.alert("stakeholders.review_requested", "info",
                  {"to_stage": target, "known_contacts": dict(sorted(state.contacts.items()))}, stage=target)


def disqualify(ctx: Context) -> None:
    """``deal.disqualify``: removes the deal, with a disqualification reason (``[R2]``)."""
    msg: DealDisqualify = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, "disqualified"):
        return
    if _check_reason(ctx, msg.reason, ctx.playbook.disqualification_reasons, "disqualified"):
        return
    ctx.add(DealDisqualified, from_stage=ctx.state.stage or "", to_stage="disqualified",
            days_in_from_stage=_days_between(ctx.state.stage_entered_at, msg.occurred_at),
            reason=msg.reason, note=msg.note)


def close(ctx: Context) -> None:
    """``deal.close``: ``lost`` from any open stage, with a loss reason; ``won`` only from the last stage,
    with evidence."""
    msg: DealClose = ctx.message  # type: ignore[assignment]
    if refuse_unless_open(ctx, msg.outcome):
        return
    current, last = ctx.state.stage or "", ctx.playbook.stage_names[-1]
    common = {"from_stage": current, "to_stage": msg.outcome, "reason": msg.reason,
              "days_in_from_stage": _days_between(ctx.state.stage_entered_at, msg.occurred_at)}
    if msg.outcome == "lost":
        if not _check_reason(ctx, msg.reason, ctx.playbook.loss_reasons, "lost"):  # [R2]: a loss has a reason
            ctx.add(DealLost, **common)
        return
    if current != last:
        ctx.reject("invalid_transition", f"a deal is won only from {last!r}, not {current!r}",
                   requested(ctx, "won"))
        return
    criteria = missing_criteria(ctx.state, ctx.playbook, [last])
    if criteria:
        ctx.reject("exit_criteria_unmet", "cannot close won: " + ", ".join(criteria) + " missing",
                   requested(ctx, "won"), criteria, [])
        return
    ctx.add(DealWon, **common)
