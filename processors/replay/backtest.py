"""``dealflow backtest``: replay inbound messages through the core on an event-time clock."""

from __future__ import annotations

import gc
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from operator import attrgetter
from typing import IO, Any

from processors.core import DealState, next_wake, process, tick
from processors.core.benchmarks import DailyBenchmarks, Stay, completed_stay, day_start
from processors.core.deadlines import DeadlineIndex
from processors.handling.serde import to_bytes
from schemas.alerts import Alert
from schemas.facts import Fact
from schemas.inbound import Inbound, InvalidMessage, parse_inbound
from schemas.playbook import Playbook

STAGE_CHANGES = frozenset({"stage.advanced", "stage.regressed", "deal.nurtured", "deal.disqualified",
                           "deal.won", "deal.lost"})


@dataclass
class Summary:
    """What a backtest saw and did (printed to stderr)."""

    messages: int = 0
    invalid: int = 0
    deals: set[str] = field(default_factory=set)
    accepted_changes: int = 0
    refused_changes: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    facts: int = 0
    benchmarks: list[tuple[str, float, str]] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"messages: {self.messages} ({self.invalid} invalid, skipped)",
            f"deals: {len(self.deals)}",
            f"facts: {self.facts}",
            f"stage changes accepted: {self.accepted_changes}, refused: {self.refused_changes}",
            "alerts by type:" + ("" if self.alerts else " none"),
        ]
        lines += [f"  {name}: {count}" for name, count in sorted(self.alerts.items())]
        lines.append("stage benchmarks in force on the last day:")
        lines += [f"  {stage}: {days:g} days ({source})" for stage, days, source in self.benchmarks]
        return "\n".join(lines)


def read_messages(lines: Iterable[str], errors: IO[str]) -> tuple[list[Inbound], int]:
    """Parse JSON lines; report invalid ones with their line number and skip them."""
    messages: list[Inbound] = []
    invalid = 0
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():
            continue
        try:
            messages.append(parse_inbound(line))
        except InvalidMessage as exc:
            invalid += 1
            print(f"line {number}: {exc.reason}", file=errors)
    return messages, invalid


def event_time_order(messages: list[Inbound]) -> list[Inbound]:
    """Messages ordered by ``occurred_at``; ties keep file order (the sort is stable)."""
    return sorted(messages, key=attrgetter("occurred_at"))


@dataclass
class Backtest:
    """The core on an event-time clock: the clock is the latest event time seen, never earlier.

    Every deadline that falls between two messages fires at its own moment, in time order,
    before the later message (a deadline at the same moment as a message fires first). The
    playbook in use has the benchmarks in force on the UTC day of the moment handled: learned
    from the stays that ended before that day began.
    """

    playbook: Playbook
    states: dict[str, DealState] = field(default_factory=dict)
    clock: datetime | None = None
    summary: Summary = field(default_factory=Summary)
    deadlines: DeadlineIndex = field(default_factory=DeadlineIndex)
    benchmarks: DailyBenchmarks | None = None
    in_force_until: datetime | None = None
    """When the day of the playbook in use ends."""

    def __post_init__(self) -> None:
        self.benchmarks = DailyBenchmarks(self.playbook)
        self.summary.benchmarks = self.benchmarks.describe(date.min)

    def _in_force(self, moment: datetime) -> None:
        """Use the playbook in force on ``moment``'s UTC day."""
        if self.in_force_until is None or moment >= self.in_force_until:
            assert self.benchmarks is not None
            day = moment.astimezone(timezone.utc).date()
            self.playbook = self.benchmarks.playbook_for(day)
            self.in_force_until = day_start(day + timedelta(days=1))

    def advance_clock(self, moment: datetime) -> Iterator[Alert]:
        """Fire every deal's deadlines up to ``moment`` and move the clock there (never back)."""
        while (alerts := self._fire_next(moment)) is not None:
            yield from alerts
        self._move_clock(moment)

    def _fire_next(self, moment: datetime) -> list[Alert] | None:
        """Fire the earliest deadline due at or before ``moment``: its alerts (``None``: none was due)."""
        entry = self.deadlines.pop_next(moment)
        if entry is None:
            return None
        due, deal_id = entry
        self._in_force(due)
        alerts, state = tick(self.states[deal_id], self.playbook, due)
        self._store(state)
        self._count(alerts)
        return alerts

    def _move_clock(self, moment: datetime) -> None:
        if self.clock is None or moment > self.clock:
            self.clock = moment

    def _learn(self, fact: Fact) -> None:
        assert self.benchmarks is not None
        stay = completed_stay(fact, self.benchmarks.playbook)
        if stay is not None:
            self.benchmarks.add(Stay.of(stay, stay.occurred_at))

    def _store(self, state: DealState) -> None:
        self.states[state.deal_id] = state
        self.deadlines.schedule(state.deal_id, next_wake(state, self.playbook))

    def _count(self, alerts: list[Alert]) -> None:
        counts = self.summary.alerts
        for alert in alerts:
            counts[f"{alert.type} ({alert.status})"] += 1

    def feed(self, message: Inbound) -> list[Fact | Alert]:
        """Process one message: the alerts of earlier deadlines, its facts, then its alerts."""
        outputs: list[Fact | Alert] = []
        while (alerts := self._fire_next(message.occurred_at)) is not None:
            outputs += alerts
        self._move_clock(message.occurred_at)
        assert self.clock is not None
        self._in_force(self.clock)
        state = self.states.get(message.deal_id) or DealState(deal_id=message.deal_id)
        decision, state = process(message, state, self.playbook, self.clock)
        self._store(state)
        self.summary.messages += 1
        self.summary.deals.add(message.deal_id)
        for fact in decision.facts:
            self._learn(fact)
            self.summary.facts += 1
            if fact.type in STAGE_CHANGES:  # type: ignore[attr-defined]
                self.summary.accepted_changes += 1
            elif fact.type == "command.rejected":  # type: ignore[attr-defined]
                self.summary.refused_changes += 1
        self._count(decision.alerts)
        outputs += decision.facts
        outputs += decision.alerts
        return outputs


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Leave the garbage of a replay to reference counting: the cycle collector is off meanwhile.

    A replay builds no reference cycles: on the 322,168-message file of the README's figures its
    peak memory is the same with the collector off (628 MB either way). Yet the collector kept
    walking a large, long-lived heap (the input, read whole, and every deal's state), even with
    young collections only every 20,000 allocations: about a fifth of the replay's CPU time.

    Turned on again, the collector would start with one young collection of everything the replay
    left (0.67 s on that file), so the survivors join the oldest generation first (``gc.freeze``
    then ``gc.unfreeze``, unless the process froze objects of its own).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()  # everything the collector tracks, so the young generation is empty
                gc.unfreeze()  # and all of it is in the oldest one
            gc.enable()


def run_backtest(
    lines: Iterable[str],
    playbook: Playbook,
    alerts_out: IO[bytes],
    events_out: IO[bytes] | None,
    as_of: datetime | None = None,
    errors: IO[str] = sys.stderr,
    sink: Callable[[str, dict[str, Any]], None] | None = None,
) -> Summary:
    """Replay ``lines`` and write alerts and facts as JSON lines, in the order produced.

    ``sink``, when given, also receives every output as ("fact" | "alert", wire payload).
    """
    with without_cycle_collection():
        messages, invalid = read_messages(lines, errors)
        backtest = Backtest(playbook=playbook)
        backtest.summary.invalid = invalid

        def write(outputs: Iterable[Fact | Alert]) -> None:
            for output in outputs:
                is_alert = isinstance(output, Alert)
                if is_alert:
                    alerts_out.write(to_bytes(output) + b"\n")
                elif events_out is not None:
                    events_out.write(to_bytes(output) + b"\n")
                if sink is not None:
                    sink("alert" if is_alert else "fact", output.model_dump(mode="json"))

        for message in event_time_order(messages):
            write(backtest.feed(message))
        if as_of is not None:
            write(backtest.advance_clock(as_of))
    assert backtest.benchmarks is not None
    last_day = backtest.clock.astimezone(timezone.utc).date() if backtest.clock else date.min
    backtest.summary.benchmarks = backtest.benchmarks.describe(last_day)
    return backtest.summary


def load_json_lines(raw: bytes) -> list[dict[str, object]]:
    """Decode a JSON-lines output (helper for tests and tools)."""
    return [json.loads(line) for line in raw.splitlines() if line.strip()]
