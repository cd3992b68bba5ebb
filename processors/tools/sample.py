"""A built-in sample stream: six deals that show gates, refusals, regression and a win."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import count
from typing import Any

Message = dict[str, Any]


class _Story:
    def __init__(self, start: datetime, run: str) -> None:
        self.start = start
        self.run = run
        self.ids = count(1)
        self.messages: list[Message | str] = []

    def add(self, deal_id: str, day: float, type_: str, **fields: Any) -> None:
        at = self.start + timedelta(days=day)
        self.messages.append({
            "event_id": f"sample{self.run}-{next(self.ids):04d}",
            "type": type_,
            "deal_id": f"{deal_id}{self.run}",
            "occurred_at": at.isoformat(),
            "source": "dealflow-sample",
            **fields,
        })

    def evidence(self, deal_id: str, day: float, *criteria: str) -> None:
        for criterion in criteria:
            self.add(deal_id, day, "evidence.record", criterion=criterion, recorded_by="rep-ana",
                     evidence={"kind": "meeting_notes", "reference": f"notes/{deal_id}/{criterion}",
                               "summary": f"{criterion.replace('_', ' ')} confirmed with the buyer"})

    def next_step(self, deal_id: str, day: float, description: str, due_in: int) -> None:
        due = (self.start + timedelta(days=day + due_in)).date().isoformat()
        self.add(deal_id, day, "deal.update", next_step={"description": description, "due_date": due})


def sample_stream(end: datetime, run: str = "") -> list[Message | str]:
    """The sample messages, in event-time order, ending at ``end`` (30 days of history).

    ``run`` suffixes every deal and event id, so each demo run shows fresh deals.
    Strings are deliberately broken messages that must end in the dead-letter topic.
    """
    s = _Story(end - timedelta(days=30), run)
    close = (end + timedelta(days=45)).date().isoformat()
    # Acme earns every step with evidence.
    s.add("acme", 0, "deal.create", name="Acme — analytics platform", owner_id="rep-ana", amount=48000,
          close_date=close)
    s.add("acme", 1, "stakeholder.added", contact_id="acme-cfo", role="economic_buyer")
    s.evidence("acme", 2, "budget_confirmed", "pain_documented")
    s.add("acme", 3, "stage.change", to_stage="qualification", requested_by="rep-ana")  # refused
    s.evidence("acme", 4, "timeline_committed")
    s.next_step("acme", 4, "Technical deep-dive with the IT lead", 5)
    s.add("acme", 4.5, "stage.change", to_stage="qualification", requested_by="rep-ana")
    s.add("acme", 8, "meeting.held", duration_minutes=60,
          attendees=[{"contact_id": "acme-cfo", "role": "economic_buyer"}, {"contact_id": "acme-it"}])
    s.evidence("acme", 12, "technical_requirements_documented", "evaluation_criteria_confirmed",
               "proposal_requested")
    s.add("acme", 13, "stage.change", to_stage="proposal", requested_by="rep-ana")
    s.add("acme", 14, "email.replied", contact_id="acme-cfo")
    # Globex tries to skip ahead without evidence.
    s.add("globex", 2, "deal.create", name="Globex — support renewal", owner_id="rep-ben", amount=12000,
          close_date=close)
    s.add("globex", 3, "email.sent", contact_id="globex-ops")
    s.add("globex", 5, "stage.change", to_stage="proposal", requested_by="rep-ben")  # refused
    # Initech is imported in negotiation, then honestly regressed.
    s.add("initech", 6, "deal.create", name="Initech — data migration", owner_id="rep-ben", amount=90000,
          close_date=close, stage="negotiation")
    s.add("initech", 9, "stage.change", to_stage="qualification", requested_by="rep-ben")  # no reason
    s.add("initech", 9.5, "stage.change", to_stage="qualification", requested_by="rep-ben",
          reason="decision_maker_pushback")
    # Umbrella chose a competitor.
    s.add("umbrella", 7, "deal.create", name="Umbrella — security suite", owner_id="rep-cy", amount=30000,
          close_date=close)
    s.add("umbrella", 15, "deal.disqualify", reason="chose_competitor", note="Went with the incumbent")
    # Hooli closes won once the contract is signed.
    s.add("hooli", 10, "deal.create", name="Hooli — platform licence", owner_id="rep-cy", amount=150000,
          close_date=close, stage="closing")
    s.next_step("hooli", 10, "Collect the signed order form", 3)
    s.add("hooli", 12, "deal.close", outcome="won")  # refused: no signed contract yet
    s.evidence("hooli", 20, "contract_signed")
    s.add("hooli", 21, "deal.close", outcome="won")
    s.messages.sort(key=lambda message: message["occurred_at"])  # type: ignore[index]
    # Bad input from a broken integration.
    s.messages.append('{"event_id": "sample-broken", "type": "deal.create", "deal_id": "broken"')
    s.messages.append(json.dumps({"event_id": f"sample{run}-negative", "type": "deal.create", "deal_id": f"neg{run}",
                                  "occurred_at": end.isoformat(), "name": "Negative", "owner_id": "rep-ana",
                                  "amount": -5, "close_date": close}))
    return s.messages
