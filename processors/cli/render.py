"""One-line, human-readable renderings of facts, alerts and dead letters (``dealflow tail``)."""

from __future__ import annotations

from typing import Any


def _fact(fact: dict[str, Any]) -> str:
    kind = fact.get("type", "?")
    if "from_stage" in fact:
        text = f"{fact['from_stage']} -> {fact['to_stage']} after {fact['days_in_from_stage']:.1f} days"
        return text + (f" ({fact['reason']})" if fact.get("reason") else "")
    if kind == "deal.created":
        imported = ", imported" if fact.get("imported") else ""
        return f"{fact['name']!r} in {fact['stage']}, {fact['amount']:,.0f} {fact['currency']}{imported}"
    if kind in ("evidence.recorded", "evidence.invalidated"):
        return str(fact["criterion"])
    if kind == "command.rejected":
        return f"{fact['command_type']} refused: {fact['message']}"
    if kind == "deal.updated":
        return ", ".join(sorted(fact.get("changes", {}))) or "no change"
    if kind == "engagement.recorded":
        return str(fact.get("engagement_type"))
    return ""


def details_note(details: dict[str, Any] | None) -> str:
    """An alert's ``details`` in a few words: its message, else its non-empty fields as ``key=value``."""
    details = details or {}
    return str(details.get("message") or ", ".join(f"{k}={v}" for k, v in details.items() if v not in (None, [], {})))


def render(topic_role: str, payload: dict[str, Any]) -> str:
    """Render one record of the events, alerts or dead-letter topic."""
    if topic_role == "events":
        return f"fact   {payload.get('deal_id', '?'):<10} {payload.get('type', '?'):<20} {_fact(payload)}"
    if topic_role == "alerts":
        kind = "notification" if payload.get("kind") == "notification" else payload.get("status")
        extra = "".join([f" acknowledged by {payload['acknowledged_by']}" if payload.get("acknowledged_by") else "",
                         f" snoozed until {payload['snoozed_until']}" if payload.get("snoozed_until") else ""])
        return (f"ALERT  {payload.get('deal_id', '?'):<10} {payload.get('type', '?'):<20} "
                f"{payload.get('severity')} {kind}{extra} {details_note(payload.get('details'))}").rstrip()
    where = f"{payload.get('source_topic')}[{payload.get('source_partition')}]@{payload.get('source_offset')}"
    return f"DEAD   {where:<24} {payload.get('reason')}"
