"""Learned stage benchmarks: the median of the most recent completed stays in each stage, as in
force on a UTC day.

The benchmark in force on day D is computed from the stays recorded before D began (live: the
stays topic's record timestamps; backtest: the stage changes' event times), so every worker and
the backtest find the same one, whichever of them saw which stay and when.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from statistics import median

from schemas.facts import Fact, StageChangeFact
from schemas.playbook import Playbook
from schemas.stays import StayCompleted


@dataclass(frozen=True, order=True)
class Stay:
    """One completed stay as recorded: ordered by (recorded_at, event_id)."""

    recorded_at: datetime
    event_id: str
    stage: str = field(compare=False)
    days: float = field(compare=False)

    @classmethod
    def of(cls, record: StayCompleted, recorded_at: datetime) -> "Stay":
        """The stay of a stays-topic record, recorded at ``recorded_at``."""
        return cls(recorded_at, record.event_id, record.stage, record.days_in_stage)


def completed_stay(fact: Fact, playbook: Playbook) -> StayCompleted | None:
    """The stay a stage change completed, if it was in a stage whose benchmark is learned."""
    if not isinstance(fact, StageChangeFact):
        return None
    stage = playbook.stage(fact.from_stage)
    if stage is None or stage.benchmark != "learned":
        return None
    return StayCompleted(event_id=fact.event_id, deal_id=fact.deal_id, stage=stage.name,
                         days_in_stage=fact.days_in_from_stage, occurred_at=fact.occurred_at)


def day_start(day: date) -> datetime:
    """00:00 UTC of ``day``."""
    return datetime.combine(day, time(), timezone.utc)


@dataclass
class DailyBenchmarks:
    """Every recorded stay of the learned stages, and the playbook in force on a given day.

    ``playbook_for(day)`` uses, per learned stage, the last ``learning.window_stays`` stays recorded
    before the day began, in (recorded_at, event_id) order: their median once there are
    ``learning.min_stays``, the configured ``benchmark_days`` until then. The same benchmarks give
    the same playbook object (so the detectors' kept answers stay valid); configured ones give the
    playbook itself.
    """

    playbook: Playbook
    by_event: dict[str, Stay] = field(default_factory=dict)
    by_stage: dict[str, list[Stay]] = field(default_factory=dict)
    _days: dict[date, Playbook] = field(default_factory=dict)
    _last: tuple[dict[str, float], Playbook] | None = None
    _newest: date | None = None
    """The latest day in ``_days``."""

    def add(self, stay: Stay) -> bool:
        """Record ``stay``; the latest record of an event id replaces an earlier one (as compaction
        keeps it), the same record again changes nothing. ``True`` when something changed."""
        known = self.by_event.get(stay.event_id)
        if known == stay and known.stage == stay.stage and known.days == stay.days:
            return False
        stage = self.playbook.stage(stay.stage)
        if stage is None or stage.benchmark != "learned":
            return False
        if known is not None:
            self.by_stage[known.stage].remove(known)
            self._forget_after(known.recorded_at)
        self.by_event[stay.event_id] = stay
        insort(self.by_stage.setdefault(stay.stage, []), stay)
        self._forget_after(stay.recorded_at)
        return True

    def _forget_after(self, moment: datetime) -> None:
        """Drop the cached days that a stay recorded at ``moment`` belongs to (a late arrival)."""
        if self._newest is None or moment >= day_start(self._newest):
            return  # the usual case: recorded on the newest day known, or later
        for day in [day for day in self._days if moment < day_start(day)]:
            del self._days[day]
        self._newest = max(self._days, default=None)

    def in_force(self, day: date) -> dict[str, float]:
        """The benchmark days per stage in force on ``day``."""
        start = day_start(day)
        learning = self.playbook.learning
        result: dict[str, float] = {}
        for stage in self.playbook.stages:
            result[stage.name] = stage.benchmark_days
            if stage.benchmark != "learned":
                continue
            stays = self.by_stage.get(stage.name, [])
            until = bisect_left(stays, start, key=lambda s: s.recorded_at)
            window = [s.days for s in stays[max(0, until - learning.window_stays):until]]
            if len(window) >= learning.min_stays and median(window) > 0:
                result[stage.name] = round(median(window), 4)
        return result

    def playbook_for(self, day: date) -> Playbook:
        """The playbook with the benchmarks in force on ``day`` (cached per day)."""
        found = self._days.get(day)
        if found is None:
            days = self.in_force(day)
            if all(days[s.name] == s.benchmark_days for s in self.playbook.stages):
                found = self.playbook
            elif self._last is not None and self._last[0] == days:
                found = self._last[1]
            else:
                found = self.playbook.with_benchmarks(days)
                self._last = (days, found)
            self._days[day] = found
            self._newest = day if self._newest is None else max(self._newest, day)
        return found

    def describe(self, day: date) -> list[tuple[str, float, str]]:
        """(stage, days, source) in force on ``day``: source is configured, learned (n stays) or fallback."""
        start, learning = day_start(day), self.playbook.learning
        days_in_force = self.in_force(day)
        rows = []
        for stage in self.playbook.stages:
            count = min(learning.window_stays,
                        sum(1 for s in self.by_stage.get(stage.name, []) if s.recorded_at < start))
            if stage.benchmark == "configured":
                source = "configured"
            elif count >= learning.min_stays:
                source = f"learned from {count} stays"
            else:
                source = f"configured (learning: {count}/{learning.min_stays} stays)"
            rows.append((stage.name, days_in_force[stage.name], source))
        return rows
