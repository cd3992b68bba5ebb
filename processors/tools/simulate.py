"""`dealflow simulate`: a seeded, realistic stream of a sales organisation.

Reps own deals whose sizes follow a long-tailed (log-normal) distribution. Every deal has hidden
buyer traits that nothing on the wire names:

- ``interest``: the buyer's real need. It drives how fast and how often the buyer answers, the
  progress signals ([S1]-[S7]) it shows, how soon exit criteria are evidenced, and whether the deal
  advances at each stage.
- ``access``: the rep's reach to power. It drives how many contacts join, whether the economic
  buyer attends meetings, and how often a deal is regressed.
- ``urgency``: a compelling event. It drives the pace (time in stage against the benchmark) and
  whether the close date holds or slips.

The outcome is never drawn up front: at every stage the deal advances with a chance that follows
from its traits, or it ends there (lost, ghosted, stalled, nurtured, disqualified), so what a deal
shows is evidence of how it will end, as in a real pipeline. Evidence is sometimes missing when a
rep asks to advance, so gates refuse. Same seed, same stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.playbook import Playbook

Message = dict[str, Any]
ROLES = ["champion", "technical", "user", "finance", "legal", "procurement", "executive"]
SIGNALS = ["budget_shared", "internal_info_shared", "buyer_action", "implementation_discussed",
           "competitor_discussed", "pricing_feedback"]


@dataclass
class SimulationSettings:
    deals: int = 200
    days: float = 90.0
    seed: int = 7
    end: datetime | None = None


@dataclass(frozen=True)
class BuyerTraits:
    """What the buyer is really like; the stream shows it only through behaviour."""

    interest: float
    access: float
    urgency: float

    @property
    def strength(self) -> float:
        """The latent score every stage's advance chance follows (about -1.5 to 1.5)."""
        return 2.2 * (self.interest - 0.5) + 1.2 * (self.access - 0.5) + 0.6 * (self.urgency - 0.5)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class _Deal:
    def __init__(self, sim: "_Simulation", n: int, start: datetime) -> None:
        self.sim, self.rng = sim, sim.rng
        rng = self.rng
        self.id = f"sim{sim.settings.seed}-{n:06d}"
        self.t = start
        self.seq = 0
        self.traits = BuyerTraits(rng.betavariate(2, 2), rng.betavariate(2, 2), rng.random())
        self.owner = f"rep-{rng.randrange(sim.reps):03d}"
        self.amount = round(min(5_000_000, rng.lognormvariate(10.2, 1.0)), -2)
        people = 2 + min(5, int(self.traits.access * 5 * rng.uniform(0.6, 1.4)))
        self.contacts = [(f"{self.id}-c{i}", role) for i, role in
                         enumerate(["economic_buyer", "decision_maker"] + rng.sample(ROLES, people - 2))]
        self.champion = self.contacts[-1][0]
        self.response_hours = 4 + 68 * (1 - self.traits.interest) * rng.uniform(0.5, 1.3)
        self.close_date = start

    def msg(self, type_: str, **fields: Any) -> Message:
        self.seq += 1
        return {"event_id": f"{self.id}-{self.seq:04d}", "type": type_, "deal_id": self.id,
                "occurred_at": self.t.isoformat(), "source": "dealflow-simulate", **fields}

    def wait(self, days: float) -> None:
        self.t += timedelta(days=max(0.01, days))

    # -- engagement ----------------------------------------------------------------------
    def healthy_week(self, late: bool) -> Iterator[Message]:
        rng, traits = self.rng, self.traits
        for _ in range(rng.randint(1, 3)):
            contact = rng.choice(self.contacts)[0]
            yield self.msg("email.sent", contact_id=contact)
            if rng.random() < 0.35 + 0.65 * traits.interest:
                self.wait(self.response_hours / 24)
                trend = rng.uniform(0.7, 1.0) if traits.interest > 0.45 else rng.uniform(1.0, 1.25)  # [S1]
                self.response_hours = min(120.0, max(2.0, self.response_hours * trend))
                yield self.msg("email.replied", contact_id=contact)
            if rng.random() < 0.5:
                yield self.msg("email.opened", contact_id=contact)
        if rng.random() < 0.3 + 0.5 * traits.interest:
            attendees = [c for c in self.contacts[1:] if rng.random() < 0.45][: 2 + late] or [self.contacts[1]]
            if rng.random() < traits.access:
                attendees.insert(0, self.contacts[0])
            yield self.msg("meeting.held", duration_minutes=rng.choice([30, 45, 60, 90]),
                           attendees=[{"contact_id": c, "role": r} for c, r in attendees])
        if rng.random() < 0.05 + 0.45 * traits.interest:
            yield self.msg("signal.observed", signal=rng.choice(SIGNALS), contact_id=self.champion)
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

    def stay_days(self, benchmark: float) -> float:
        return benchmark * self.rng.lognormvariate(0, 0.3) * (1.5 - 0.8 * self.traits.urgency)

    def earn(self, stage: str, playbook: Playbook, evidenced: bool = True) -> Iterator[Message]:
        """A stay in ``stage``: weeks of engagement, with its exit criteria evidenced as the buyer allows
        (none when ``evidenced`` is false: a last stage that falls through signs no contract)."""
        spec = playbook.stage(stage)
        assert spec is not None
        pending = list(spec.exit_criteria) if evidenced else []
        for _ in range(max(1, int(self.stay_days(spec.benchmark_days) // 5))):
            yield from self.healthy_week(late=spec.late)
            for criterion in list(pending):
                if self.rng.random() < 0.25 + 0.5 * self.traits.interest:
                    pending.remove(criterion)
                    yield self.evidence(criterion)
            if self.t > self.close_date and self.rng.random() < 0.6:  # the rep answers close_date.passed
                slip = self.plan_close(playbook, playbook.stage_names.index(stage))
                if slip is not None:
                    yield slip
        for criterion in pending:
            if self.rng.random() < 0.6 + 0.35 * self.traits.interest:
                yield self.evidence(criterion)

    def advance(self, target: str, stage: str, playbook: Playbook) -> Iterator[Message]:
        spec = playbook.stage(stage)
        assert spec is not None
        yield self.msg("stage.change", to_stage=target, requested_by=self.owner)
        self.wait(self.rng.uniform(1, 4))
        for criterion in spec.exit_criteria:  # fill what the gate refused for (duplicates are harmless)
            yield self.evidence(criterion)
        yield self.msg("stage.change", to_stage=target, requested_by=self.owner)

    def plan_close(self, playbook: Playbook, from_index: int) -> Message | None:
        """The rep's (optimistic) close date for the stages left; a deal.update when it moves."""
        remaining = sum(s.benchmark_days for s in playbook.stages[from_index:])
        planned = self.t + timedelta(days=remaining * self.rng.uniform(0.7, 1.1) + 3)
        if self.seq and planned <= self.close_date + timedelta(days=3):
            return None
        first = not self.seq
        self.close_date = planned
        return None if first else self.msg("deal.update", close_date=planned.date().isoformat())

    def life(self, playbook: Playbook) -> Iterator[Message]:
        stages = playbook.stage_names
        self.plan_close(playbook, 0)
        yield self.msg("deal.create", name=f"Deal {self.id}", owner_id=self.owner, amount=self.amount,
                       close_date=self.close_date.date().isoformat())
        for contact, role in self.contacts[:2]:
            yield self.msg("stakeholder.added", contact_id=contact, role=role)
        self.wait(1)
        yield self.msg("deal.update", next_step={"description": "Discovery call",
                                                 "due_date": (self.t + timedelta(days=7)).date().isoformat()})
        for i, stage in enumerate(stages):
            advances = self.rng.random() < self.advance_chance(i, len(stages))
            yield from self.earn(stage, playbook, evidenced=advances or i < len(stages) - 1)
            if not advances:
                yield from self.ending(playbook, i)
                return
            if i == len(stages) - 1:
                yield self.msg("deal.close", outcome="won")
                return
            yield from self.advance(stages[i + 1], stage, playbook)
            if i >= 1 and self.rng.random() < 0.25 * (1 - self.traits.access):
                yield from self.regress(playbook, i)
            if self.t > self.close_date - timedelta(days=5) or self.rng.random() < 0.05:
                slip = self.plan_close(playbook, i + 1)
                if slip is not None:
                    yield slip

    def advance_chance(self, index: int, stages: int) -> float:
        """Each stage keeps most strong deals and loses weak ones; the last stage is the signature."""
        base = 1.4 if index < stages - 1 else 1.0
        return _sigmoid(base + 2.4 * self.traits.strength)

    def regress(self, playbook: Playbook, index: int) -> Iterator[Message]:
        """An honest regression to the stage just left, then the deal earns its way back."""
        stages = playbook.stage_names
        yield self.msg("stage.change", to_stage=stages[index], requested_by=self.owner,
                       reason=self.rng.choice(playbook.regression_reasons))
        yield from self.earn(stages[index], playbook)
        yield from self.advance(stages[index + 1], stages[index], playbook)

    def ending(self, playbook: Playbook, index: int) -> Iterator[Message]:
        """How a deal that did not advance from stage ``index`` ends, by what its buyer is like."""
        rng, traits = self.rng, self.traits
        weights = {"lost": 1.0 + index * 0.4, "ghosted": 1.6 * (1 - traits.interest),
                   "disqualified": 1.2 if index <= 1 else 0.1, "stalled": 0.8 * (1 - traits.urgency),
                   "nurtured": 0.6 * (1 - traits.urgency) if index <= 1 else 0.0}
        ending = rng.choices(list(weights), weights=list(weights.values()))[0]
        if ending == "lost":
            yield from self.going_quiet()
            yield self.msg("deal.close", outcome="lost", reason=rng.choice(playbook.loss_reasons))
        elif ending == "disqualified":
            yield from self.healthy_week(late=False)
            yield self.msg("deal.disqualify", reason=rng.choice(playbook.disqualification_reasons))
        elif ending == "ghosted":
            yield from self.going_quiet()
            if rng.random() < 0.5:  # the rep gives up on it, weeks later
                self.wait(rng.uniform(14, 45))
                yield self.msg("deal.close", outcome="lost", reason="no_decision")
        elif ending == "stalled":
            self.wait(rng.uniform(20, 40))
            yield self.msg("email.opened", contact_id=self.champion)
        else:
            yield self.msg("stage.change", to_stage=playbook.nurture_stage, requested_by=self.owner,
                           reason="timeline_extended")


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
