"""`dealflow simulate`: a seeded, realistic stream of a sales organisation.

Reps own deals whose sizes follow a long-tailed (log-normal) distribution. Each deal has buyer
contacts with roles and a fate: healthy deals earn their stages with evidence and show the
seed's progress signals ([S1]-[S7]); others stall, go quiet (the buyer stops answering while the
rep keeps touching), get regressed or disqualified with a reason, or are lost. Evidence is
sometimes missing when a rep asks to advance, so gates refuse. Same seed, same stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.playbook import Playbook

Message = dict[str, Any]
ROLES = ["champion", "technical", "user", "finance", "legal", "procurement", "executive"]
FATES = [("won", 0.25), ("lost", 0.15), ("disqualified", 0.12), ("ghosted", 0.2), ("stalled", 0.13),
         ("nurtured", 0.05), ("regressed", 0.1)]


@dataclass
class SimulationSettings:
    deals: int = 200
    days: float = 90.0
    seed: int = 7
    end: datetime | None = None


class _Deal:
    def __init__(self, sim: "_Simulation", n: int, start: datetime) -> None:
        self.sim, self.rng = sim, sim.rng
        self.id = f"sim{sim.settings.seed}-{n:06d}"
        self.t = start
        self.seq = 0
        self.fate = self.rng.choices([f for f, _ in FATES], weights=[w for _, w in FATES])[0]
        self.owner = f"rep-{self.rng.randrange(sim.reps):03d}"
        self.amount = round(min(5_000_000, self.rng.lognormvariate(10.2, 1.0)), -2)
        people = self.rng.randint(2, 6)
        self.contacts = [(f"{self.id}-c{i}", role) for i, role in
                         enumerate(["economic_buyer", "decision_maker"] + self.rng.sample(ROLES, people - 2))]
        self.champion = self.contacts[-1][0]
        self.response_hours = self.rng.uniform(4, 72)

    def msg(self, type_: str, **fields: Any) -> Message:
        self.seq += 1
        return {"event_id": f"{self.id}-{self.seq:04d}", "type": type_, "deal_id": self.id,
                "occurred_at": self.t.isoformat(), "source": "dealflow-simulate", **fields}

    def wait(self, days: float) -> None:
        self.t += timedelta(days=max(0.01, days))

    # -- engagement ----------------------------------------------------------------------
    def healthy_week(self, late: bool) -> Iterator[Message]:
        rng = self.rng
        for _ in range(rng.randint(1, 3)):
            contact = rng.choice(self.contacts)[0]
            yield self.msg("email.sent", contact_id=contact)
            self.wait(self.response_hours / 24)
            self.response_hours = max(2.0, self.response_hours * rng.uniform(0.7, 1.0))  # [S1]
            yield self.msg("email.replied", contact_id=contact)
            if rng.random() < 0.5:
                yield self.msg("email.opened", contact_id=contact)
        if rng.random() < 0.6:
            attendees = rng.sample(self.contacts, k=min(len(self.contacts), rng.randint(1, 3 + late)))
            yield self.msg("meeting.held", duration_minutes=rng.choice([30, 45, 60, 90]),
                           attendees=[{"contact_id": c, "role": r} for c, r in attendees])
        if rng.random() < 0.3:
            yield self.msg("signal.observed", signal=rng.choice(
                ["budget_shared", "internal_info_shared", "buyer_action", "implementation_discussed",
                 "competitor_discussed"]), contact_id=self.champion)
        if rng.random() < 0.3:
            yield self.msg("content.viewed", contact_id=rng.choice(self.contacts)[0],
                           content_id=f"doc-{rng.randrange(40)}", content_kind=rng.choice(["case_study", "proposal"]))
        self.wait(rng.uniform(3, 7))

    def going_quiet(self) -> Iterator[Message]:
        for days in (2, 4, 6, 9):
            self.wait(days)
            yield self.msg("email.sent", contact_id=self.champion)
        if self.rng.random() < 0.5:
            self.wait(3)
            yield self.msg("call.logged", contact_id=self.champion, direction="outbound", connected=False,
                           duration_minutes=0)

    # -- the deal's life -----------------------------------------------------------------
    def evidence(self, criterion: str) -> Message:
        return self.msg("evidence.record", criterion=criterion, recorded_by=self.owner, evidence={
            "kind": self.rng.choice(["meeting_notes", "email", "document"]),
            "reference": f"crm/{self.id}/{criterion}"})

    def earn(self, stage: str, playbook: Playbook) -> Iterator[Message]:
        spec = playbook.stage(stage)
        assert spec is not None
        stay = spec.benchmark_days * self.rng.lognormvariate(0, 0.35)
        weeks = max(1, int(stay // 5))
        for _ in range(weeks):
            yield from self.healthy_week(late=spec.late)
        missing = [c for c in spec.exit_criteria if self.rng.random() < 0.12]
        for criterion in spec.exit_criteria:
            if criterion not in missing:
                yield self.evidence(criterion)

    def advance(self, target: str, stage: str, playbook: Playbook) -> Iterator[Message]:
        spec = playbook.stage(stage)
        assert spec is not None
        yield self.msg("stage.change", to_stage=target, requested_by=self.owner)
        self.wait(self.rng.uniform(1, 4))
        for criterion in spec.exit_criteria:  # fill what the gate refused for (duplicates are harmless)
            yield self.evidence(criterion)
        yield self.msg("stage.change", to_stage=target, requested_by=self.owner)

    def life(self, playbook: Playbook) -> Iterator[Message]:
        stages = playbook.stage_names
        close = (self.t + timedelta(days=self.rng.uniform(45, 150))).date().isoformat()
        yield self.msg("deal.create", name=f"Deal {self.id}", owner_id=self.owner, amount=self.amount,
                       close_date=close)
        for contact, role in self.contacts[:2]:
            yield self.msg("stakeholder.added", contact_id=contact, role=role)
        self.wait(1)
        yield self.msg("deal.update", next_step={"description": "Discovery call",
                                                 "due_date": (self.t + timedelta(days=7)).date().isoformat()})
        depth = {"won": 5, "lost": self.rng.randint(1, 4), "disqualified": self.rng.randint(0, 2),
                 "ghosted": self.rng.randint(1, 3), "stalled": self.rng.randint(0, 3), "nurtured": 1,
                 "regressed": self.rng.randint(2, 4)}[self.fate]
        for i in range(min(depth, len(stages) - 1)):
            yield from self.earn(stages[i], playbook)
            yield from self.advance(stages[i + 1], stages[i], playbook)
            if self.rng.random() < 0.2:
                yield self.msg("deal.update", close_date=(self.t + timedelta(days=self.rng.uniform(20, 60)))
                               .date().isoformat())
        yield from self.ending(playbook, depth)

    def ending(self, playbook: Playbook, depth: int) -> Iterator[Message]:
        stages = playbook.stage_names
        if self.fate == "won":
            yield from self.earn(stages[-1], playbook)
            yield self.evidence(stages and playbook.stages[-1].exit_criteria[0])
            yield self.msg("deal.close", outcome="won")
        elif self.fate == "lost":
            yield from self.going_quiet()
            yield self.msg("deal.close", outcome="lost", reason=self.rng.choice(playbook.loss_reasons))
        elif self.fate == "disqualified":
            yield from self.healthy_week(late=False)
            yield self.msg("deal.disqualify", reason=self.rng.choice(playbook.disqualification_reasons))
        elif self.fate == "ghosted":
            yield from self.going_quiet()
        elif self.fate == "stalled":
            self.wait(self.rng.uniform(20, 40))
            yield self.msg("email.opened", contact_id=self.champion)
        elif self.fate == "nurtured":
            yield self.msg("stage.change", to_stage=playbook.nurture_stage, requested_by=self.owner,
                           reason="timeline_extended")
        else:  # regressed: honest regression, then it earns its way back
            target = stages[max(0, min(depth, len(stages) - 1) - 1)]
            yield self.msg("stage.change", to_stage=target, requested_by=self.owner,
                           reason=self.rng.choice(playbook.regression_reasons))
            yield from self.earn(target, playbook)


class _Simulation:
    def __init__(self, settings: SimulationSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.reps = max(3, settings.deals // 40)


def simulate(settings: SimulationSettings, playbook: Playbook, end: datetime) -> list[Message]:
    """Every message of the simulated organisation up to ``end``, in event-time order."""
    sim = _Simulation(settings)
    start = end - timedelta(days=settings.days)
    messages: list[Message] = []
    for n in range(settings.deals):
        deal = _Deal(sim, n, start + timedelta(days=sim.rng.uniform(0, settings.days * 0.8)))
        messages += [m for m in deal.life(playbook) if m["occurred_at"] <= end.isoformat()]
    messages.sort(key=lambda m: m["occurred_at"])
    return messages
