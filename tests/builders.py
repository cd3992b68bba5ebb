"""Message builders shared by the unit and the integration tests, and a tiny harness that runs
messages through the core.

Each builder comes in two forms: ``*_message`` gives the wire payload as a dict (what the
integration tests produce to Kafka), and the short name gives the same message parsed and
validated (what the unit tests feed to the core). A message happens ``day`` days after ``T0``
unless ``at`` says exactly when.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

from processors.core import DealState, Decision, process, tick
from processors.playbooks.loader import default_playbook
from schemas.inbound import Inbound, parse_inbound
from schemas.playbook import Playbook

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
DISCOVERY = ["budget_confirmed", "decision_maker_identified", "pain_documented", "timeline_committed"]
QUALIFICATION = ["economic_buyer_engaged", "technical_requirements_documented", "evaluation_criteria_confirmed",
                 "proposal_requested"]
PROPOSAL = ["proposal_reviewed_with_decision_maker", "pricing_feedback_received", "scope_agreed",
            "legal_review_started"]
NEGOTIATION = ["stakeholders_aligned", "contract_terms_agreed", "purchase_process_started",
               "implementation_timeline_confirmed"]

_ids = count(1)


def at(day: float) -> datetime:
    """``day`` days after T0."""
    return T0 + timedelta(days=day)


# -- wire payloads ---------------------------------------------------------------------------


def message(type_: str, day: float = 0, deal_id: str = "d1", event_id: str | None = None, *,
            when: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """The payload of a ``type_`` message ``day`` days after T0 (or at ``when``)."""
    occurred_at = when if when is not None else at(day)
    return {"event_id": event_id or f"m{next(_ids)}", "type": type_, "deal_id": deal_id,
            "occurred_at": occurred_at.isoformat(), **fields}


def create_message(day: float = 0, **fields: Any) -> dict[str, Any]:
    base = {"name": "Acme", "owner_id": "rep1", "amount": 1000, "close_date": "2026-06-30"}
    return message("deal.create", day, **(base | fields))


def evidence_message(criterion: str, day: float = 0, **fields: Any) -> dict[str, Any]:
    base = {"recorded_by": "rep1", "evidence": {"kind": "meeting_notes", "reference": f"notes/{criterion}"}}
    return message("evidence.record", day, criterion=criterion, **(base | fields))


def change_message(to_stage: str, day: float = 0, **fields: Any) -> dict[str, Any]:
    return message("stage.change", day, to_stage=to_stage, **({"requested_by": "rep1"} | fields))


def next_step_message(day: float = 0, **fields: Any) -> dict[str, Any]:
    step = {"description": "Call", "due_date": "2026-02-01"}
    return message("deal.update", day, **({"next_step": step} | fields))


# -- parsed messages -------------------------------------------------------------------------


def parsed(payload: dict[str, Any]) -> Inbound:
    """``payload`` as the worker reads it: serialised, parsed and validated."""
    return parse_inbound(json.dumps(payload))


def msg(type_: str, day: float = 0, deal_id: str = "d1", event_id: str | None = None, **fields: Any) -> Inbound:
    """A validated inbound message ``day`` days after T0."""
    return parsed(message(type_, day, deal_id, event_id, **fields))


def create(day: float = 0, **fields: Any) -> Inbound:
    return parsed(create_message(day, **fields))


def evidence(criterion: str, day: float = 0, **fields: Any) -> Inbound:
    return parsed(evidence_message(criterion, day, **fields))


def change(to_stage: str, day: float = 0, **fields: Any) -> Inbound:
    return parsed(change_message(to_stage, day, **fields))


def next_step(day: float = 0, **fields: Any) -> Inbound:
    return parsed(next_step_message(day, **fields))


# -- the core harness ------------------------------------------------------------------------


class Deal:
    """Runs messages through ``process`` and remembers every decision."""

    def __init__(self, playbook: Playbook | None = None, deal_id: str = "d1") -> None:
        self.playbook = playbook or default_playbook()
        self.state = DealState(deal_id=deal_id)
        self.decisions: list[Decision] = []

    def send(self, *messages: Inbound) -> Decision:
        last = Decision()
        for message in messages:
            last, self.state = process(message, self.state, self.playbook, message.occurred_at)
            self.decisions.append(last)
        return last

    def tick(self, day: float) -> list[Any]:
        """Move the clock to ``day`` days after T0; return the alerts that raised or resolved."""
        alerts, self.state = tick(self.state, self.playbook, at(day))
        self.decisions.append(Decision(alerts=alerts))
        return alerts

    def facts(self) -> list[Any]:
        return [fact for decision in self.decisions for fact in decision.facts]

    def alerts(self) -> list[Any]:
        return [alert for decision in self.decisions for alert in decision.alerts]


def types(decision: Decision) -> list[str]:
    return [fact.type for fact in decision.facts]  # type: ignore[attr-defined]


def deal_in(stage: str, day: float = 0) -> Deal:
    """A deal that earned its way into ``stage`` (all evidence recorded, next step set)."""
    deal = Deal()
    deal.send(create(day), next_step(day))
    order = ["discovery", "qualification", "proposal", "negotiation", "closing"]
    criteria = [DISCOVERY, QUALIFICATION, PROPOSAL, NEGOTIATION]
    for i, target in enumerate(order[1:order.index(stage) + 1]):
        deal.send(*[evidence(c, day) for c in criteria[i]])
        decision = deal.send(change(target, day))
        assert types(decision)[0] == "stage.advanced", decision
    return deal
