"""Deal timelines folded from the event log (facts) and the alert log, as of a moment.

``History.advance(T)`` applies every record at or before ``T`` in time order, so a ``History``
never knows anything after the moment it stands at: what is computed from it cannot leak.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

CLOSED = {"deal.won": "won", "deal.lost": "lost", "deal.disqualified": "disqualified"}
BUYER_TOUCHES = frozenset({"email.replied", "meeting.held", "signal.observed"})
CONDITION_GROUPS = {"deal.ghosting": "ghosting", "deal.stalled": "stalled", "velocity.dropped": "stalled",
                    "deal.inactive": "inactive", "next_step.overdue": "inactive",
                    "deal.economic_buyer_silent": "economic_buyer_silent", "close_date.passed": "close_date_passed"}
"""The open conditions the forecast reads, grouped by what they say about the deal."""


@dataclass
class DealTrack:
    """What the forecast knows of one deal at the moment its ``History`` stands at."""

    deal_id: str
    created_at: datetime
    owner_id: str | None
    amount: float
    close_date: date
    stage: str
    stage_entered_at: datetime
    stages_reached: set[str] = field(default_factory=set)
    evidence: set[str] = field(default_factory=set)
    gate_refusals: int = 0
    regressions: int = 0
    close_date_slips: int = 0
    contacts: dict[str, str | None] = field(default_factory=dict)
    recent: deque[tuple[datetime, str]] = field(default_factory=deque)
    """(moment, kind) of the last 30 days' emails sent and buyer touches (pruned when read)."""
    last_buyer_at: datetime | None = None
    last_economic_buyer_at: datetime | None = None
    open_conditions: dict[str, str] = field(default_factory=dict)
    """alert_id -> condition group (``CONDITION_GROUPS``)."""
    outcome: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, order=True)
class LogRecord:
    moment: datetime
    order: int
    body: Mapping[str, Any] = field(compare=False)
    is_alert: bool = field(compare=False, default=False)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def log_records(facts: Iterable[Mapping[str, Any]], alerts: Iterable[Mapping[str, Any]]) -> list[LogRecord]:
    """Facts and alert records in time order (a fact before the alerts of its moment)."""
    records = [LogRecord(_moment(f["occurred_at"]), n, f) for n, f in enumerate(facts)]
    for n, alert in enumerate(alerts, start=len(records)):
        when = alert.get("resolved_at") if alert.get("status") == "resolved" else None
        when = when or alert.get("updated_at") or alert["raised_at"]
        records.append(LogRecord(_moment(when), n, alert, is_alert=True))
    records.sort()
    return records


class History:
    """Every deal's ``DealTrack``, advanced through a time-ordered log."""

    def __init__(self, records: list[LogRecord]) -> None:
        self.records = records
        self.position = 0
        self.deals: dict[str, DealTrack] = {}
        self.moment: datetime | None = None

    def advance(self, moment: datetime) -> None:
        """Apply every record at or before ``moment`` (moments only move forward)."""
        records, position = self.records, self.position
        while position < len(records) and records[position].moment <= moment:
            record = records[position]
            if record.is_alert:
                self._alert(record.body)
            else:
                self._fact(record.body, record.moment)
            position += 1
        self.position, self.moment = position, moment

    def _alert(self, alert: Mapping[str, Any]) -> None:
        track = self.deals.get(alert["deal_id"])
        group = CONDITION_GROUPS.get(alert["type"])
        if track is None or group is None or alert.get("kind", "condition") != "condition":
            return
        if alert.get("status") == "resolved":
            track.open_conditions.pop(alert["alert_id"], None)
        else:
            track.open_conditions[alert["alert_id"]] = group

    def _fact(self, fact: Mapping[str, Any], at: datetime) -> None:
        kind = fact["type"]
        if kind == "deal.created":
            self.deals[fact["deal_id"]] = DealTrack(
                fact["deal_id"], at, fact.get("owner_id"), float(fact["amount"]),
                date.fromisoformat(fact["close_date"]), fact["stage"], at, {fact["stage"]})
            return
        track = self.deals.get(fact["deal_id"])
        if track is None:
            return
        if kind == "engagement.recorded":
            _engagement(track, fact["engagement_type"], fact["engagement"], at)
        elif kind == "deal.updated":
            _update(track, fact["changes"])
        elif kind == "evidence.recorded":
            track.evidence.add(fact["criterion"])
        elif kind == "evidence.invalidated":
            track.evidence.discard(fact["criterion"])
        elif kind == "command.rejected":
            track.gate_refusals += fact["reason"] == "exit_criteria_unmet"
        elif "to_stage" in fact:
            _stage_change(track, kind, fact["to_stage"], at)


def _stage_change(track: DealTrack, kind: str, to_stage: str, at: datetime) -> None:
    if kind in CLOSED:
        track.outcome, track.closed_at = CLOSED[kind], at
        return
    track.regressions += kind == "stage.regressed"
    track.stage, track.stage_entered_at = to_stage, at
    track.stages_reached.add(to_stage)


def _update(track: DealTrack, changes: Mapping[str, Any]) -> None:
    if (close := changes.get("close_date")) and close.get("new"):
        new = date.fromisoformat(close["new"])
        track.close_date_slips += new > track.close_date
        track.close_date = new
    if (amount := changes.get("amount")) and amount.get("new") is not None:
        track.amount = float(amount["new"])
    if (owner := changes.get("owner_id")) and owner.get("new"):
        track.owner_id = owner["new"]


def _engagement(track: DealTrack, kind: str, body: Mapping[str, Any], at: datetime) -> None:
    people = [a.get("contact_id") for a in body.get("attendees", ())] + [body.get("contact_id")]
    for attendee in body.get("attendees", ()):
        track.contacts.setdefault(attendee["contact_id"], attendee.get("role"))
    if kind == "stakeholder.added":
        track.contacts[body["contact_id"]] = body.get("role")
    elif body.get("contact_id"):
        track.contacts.setdefault(body["contact_id"], None)
    if kind == "email.sent" or kind in BUYER_TOUCHES:
        track.recent.append((at, kind))
    if kind in BUYER_TOUCHES:
        track.last_buyer_at = at
        if any(track.contacts.get(person) == "economic_buyer" for person in people if person):
            track.last_economic_buyer_at = at
