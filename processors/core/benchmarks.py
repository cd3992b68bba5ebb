"""Learned stage benchmarks: the median of the most recent completed stays in each stage."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import median

from schemas.facts import Fact, StageChangeFact
from schemas.playbook import Playbook


@dataclass
class BenchmarkLearner:
    """Keeps the most recent completed stays per stage and the benchmarks they imply."""

    playbook: Playbook
    stays: dict[str, deque[float]] = field(default_factory=dict)

    def observe(self, fact: Fact) -> bool:
        """Record a stay that a stage change completed; ``True`` when a learned benchmark moved."""
        if not isinstance(fact, StageChangeFact):
            return False
        stage = self.playbook.stage(fact.from_stage)
        if stage is None or stage.benchmark != "learned":
            return False
        before = self.in_use()[stage.name]
        window = self.stays.setdefault(stage.name, deque(maxlen=self.playbook.learning.window_stays))
        window.append(fact.days_in_from_stage)
        return self.in_use()[stage.name] != before

    def in_use(self) -> dict[str, float]:
        """The benchmark days in use per stage: learned where set and known, else configured."""
        learning = self.playbook.learning
        result: dict[str, float] = {}
        for stage in self.playbook.stages:
            stays = self.stays.get(stage.name, ())
            learned = stage.benchmark == "learned" and len(stays) >= learning.min_stays
            result[stage.name] = round(median(stays), 4) if learned and median(stays) > 0 else stage.benchmark_days
        return result

    def describe(self) -> list[tuple[str, float, str]]:
        """(stage, days, source) for display: source is configured, learned (n stays) or fallback."""
        rows = []
        for stage in self.playbook.stages:
            days = self.in_use()[stage.name]
            count = len(self.stays.get(stage.name, ()))
            if stage.benchmark == "configured":
                source = "configured"
            elif days != stage.benchmark_days or count >= self.playbook.learning.min_stays:
                source = f"learned from {count} stays"
            else:
                source = f"configured (learning: {count}/{self.playbook.learning.min_stays} stays)"
            rows.append((stage.name, days, source))
        return rows

    def effective_playbook(self) -> Playbook:
        """The playbook with the benchmarks in use."""
        return self.playbook.with_benchmarks(self.in_use())
