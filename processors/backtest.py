"""``dealflow backtest``: replay inbound messages through the core on an event-time clock."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from processors.core import DealState, process
from processors.serde import to_bytes
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

    def render(self) -> str:
        lines = [
            f"messages: {self.messages} ({self.invalid} invalid, skipped)",
            f"deals: {len(self.deals)}",
            f"facts: {self.facts}",
            f"stage changes accepted: {self.accepted_changes}, refused: {self.refused_changes}",
            "alerts by type:" + ("" if self.alerts else " none"),
        ]
        lines += [f"  {name}: {count}" for name, count in sorted(self.alerts.items())]
        return "\n".join(lines)


def read_messages(lines: Iterable[str], errors: IO[str]) -> tuple[list[Inbound], int]:
    """Parse JSON lines; report invalid ones with their line number and skip them."""
    messages: list[Inbound] = []
    invalid = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            messages.append(parse_inbound(line))
        except InvalidMessage as exc:
            invalid += 1
            print(f"line {number}: {exc.reason}", file=errors)
    return messages, invalid


def event_time_order(messages: list[Inbound]) -> list[Inbound]:
    """Messages ordered by ``occurred_at``; ties keep file order (the sort is stable)."""
    return sorted(messages, key=lambda message: message.occurred_at)


@dataclass
class Backtest:
    """The core on an event-time clock: the clock is the latest event time seen, never earlier."""

    playbook: Playbook
    states: dict[str, DealState] = field(default_factory=dict)
    clock: datetime | None = None
    summary: Summary = field(default_factory=Summary)

    def advance_clock(self, moment: datetime) -> None:
        if self.clock is None or moment > self.clock:
            self.clock = moment

    def feed(self, message: Inbound) -> Iterator[Fact | Alert]:
        """Process one message; yield its facts, then its alerts."""
        self.advance_clock(message.occurred_at)
        assert self.clock is not None
        state = self.states.get(message.deal_id) or DealState(deal_id=message.deal_id)
        decision, self.states[message.deal_id] = process(message, state, self.playbook, self.clock)
        self.summary.messages += 1
        self.summary.deals.add(message.deal_id)
        for fact in decision.facts:
            self.summary.facts += 1
            if fact.type in STAGE_CHANGES:  # type: ignore[attr-defined]
                self.summary.accepted_changes += 1
            elif fact.type == "command.rejected":  # type: ignore[attr-defined]
                self.summary.refused_changes += 1
            yield fact
        for alert in decision.alerts:
            self.summary.alerts[alert.type] += 1
            yield alert


def run_backtest(
    lines: Iterable[str],
    playbook: Playbook,
    alerts_out: IO[bytes],
    events_out: IO[bytes] | None,
    as_of: datetime | None = None,
    errors: IO[str] = sys.stderr,
) -> Summary:
    """Replay ``lines`` and write alerts and facts as JSON lines, in the order produced."""
    messages, invalid = read_messages(lines, errors)
    backtest = Backtest(playbook=playbook)
    backtest.summary.invalid = invalid
    for message in event_time_order(messages):
        for output in backtest.feed(message):
            if isinstance(output, Alert):
                alerts_out.write(to_bytes(output) + b"\n")
            elif events_out is not None:
                events_out.write(to_bytes(output) + b"\n")
    if as_of is not None:
        backtest.advance_clock(as_of)
    return backtest.summary


def load_json_lines(raw: bytes) -> list[dict[str, object]]:
    """Decode a JSON-lines output (helper for tests and tools)."""
    return [json.loads(line) for line in raw.splitlines() if line.strip()]
