"""The per-message working context of the decider: inputs plus the facts and alerts so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from processors.core.ids import fact_id, message_alert_id
from processors.core.playbook_view import addressing, coaching_for
from processors.core.state import DealState
from schemas.alerts import Alert
from schemas.base import Severity, trusted
from schemas.facts import CommandRejected, Fact, RejectionReason
from schemas.inbound import Inbound
from schemas.playbook import Playbook


@dataclass
class Context:
    message: Inbound
    state: DealState
    playbook: Playbook
    now: datetime
    facts: list[Fact] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def add(self, fact_type: type[Fact], **fields: Any) -> Fact:
        """Append a fact caused by the current message, with a deterministic id (``fields``: validated values)."""
        fact = trusted(
            fact_type,
            event_id=fact_id(self.state.deal_id, self.message.event_id, len(self.facts)),
            deal_id=self.state.deal_id,
            occurred_at=self.message.occurred_at,
            caused_by=self.message.event_id,
            **fields,
        )
        self.facts.append(fact)
        return fact

    def alert(
        self,
        alert_type: str,
        severity: Severity,
        details: dict[str, Any],
        *,
        stage: str | None = None,
    ) -> None:
        """Raise a notification: an alert caused once by the current message (never open)."""
        team, manager, addressed_to = addressing(self.playbook, self.state.owner_id, alert_type, severity)
        self.alerts.append(
            trusted(
                Alert,
                alert_id=message_alert_id(self.state.deal_id, alert_type, self.message.event_id),
                type=alert_type,
                deal_id=self.state.deal_id,
                severity=severity,
                status="raised",
                raised_at=self.message.occurred_at,
                stage=stage if stage is not None else self.state.stage,
                owner_id=self.state.owner_id,
                caused_by=self.message.event_id,
                details=details,
                kind="notification",
                team=team,
                updated_at=self.message.occurred_at,
                manager=manager,
                addressed_to=addressed_to,
                coaching=coaching_for(self.playbook, alert_type, None),
            )
        )

    def reject(
        self,
        reason: RejectionReason,
        message: str,
        requested: dict[str, Any],
        missing_criteria: list[str] | None = None,
        missing_fields: list[str] | None = None,
        notify: bool = True,
    ) -> None:
        """Refuse the command: a ``command.rejected`` fact and (``notify``) a ``gate.rejected`` alert."""
        criteria = missing_criteria or []
        fields_ = missing_fields or []
        self.add(
            CommandRejected,
            command_type=self.message.type,
            requested=requested,
            reason=reason,
            message=message,
            missing_criteria=criteria,
            missing_fields=fields_,
        )
        if not notify:
            return
        self.alert(
            "gate.rejected",
            "warning",
            {
                "requested": requested,
                "reason": reason,
                "message": message,
                "missing_criteria": criteria,
                "missing_fields": fields_,
            },
        )
