"""Gate checks: which exit criteria and required fields stand between a deal and a stage."""

from __future__ import annotations

from typing import Any

from processors.core.state import DealState
from schemas.playbook import EngagementRule, Playbook


def missing_criteria(state: DealState, playbook: Playbook, stages: list[str]) -> list[str]:
    """Exit criteria of ``stages`` that the deal has not satisfied, in playbook order."""
    satisfied = state.satisfied()
    missing: list[str] = []
    for name in stages:
        stage = playbook.stage(name)
        for criterion in stage.exit_criteria if stage else []:
            if criterion not in satisfied and criterion not in missing:
                missing.append(criterion)
    return missing


def missing_fields(state: DealState, playbook: Playbook, stage_name: str) -> list[str]:
    """Required fields of ``stage_name`` that the deal does not have."""
    stage = playbook.stage(stage_name)
    required = stage.required_fields if stage else []
    return [name for name in required if _blank(state.field_value(name))]


def _blank(value: Any) -> bool:
    """``value in (None, "")``, without asking non-strings to compare with a string."""
    return value is None or (isinstance(value, str) and not value)


def stages_to_clear(playbook: Playbook, current: str, target: str) -> list[str]:
    """Stages whose exit criteria a move from ``current`` forward to ``target`` needs.

    From an open stage: the current stage and every stage skipped. From the parking stage:
    every stage before the target.
    """
    names = playbook.stage_names
    end = names.index(target)
    start = names.index(current) if current in names else 0
    return names[start:end]


def _rule_matches(rule: EngagementRule, engagement: dict[str, Any], contacts: dict[str, str]) -> bool:
    """Whether an engagement message of the rule's type meets the rule."""
    if rule.match == "role":
        return engagement.get("role") in rule.roles
    if rule.match == "attendee_role":
        return any(
            (attendee.get("role") or contacts.get(attendee.get("contact_id", ""))) in rule.roles
            for attendee in engagement.get("attendees", [])
        )
    return contacts.get(engagement.get("contact_id") or "") in rule.roles


def criteria_met_by(engagement: dict[str, Any], playbook: Playbook, contacts: dict[str, str]) -> list[str]:
    """Criteria that one engagement message satisfies under the playbook's engagement rules."""
    met: list[str] = []
    kind = engagement.get("type")
    for rule in playbook.engagement_rules:
        if rule.type == kind and rule.criterion not in met and _rule_matches(rule, engagement, contacts):
            met.append(rule.criterion)
    return met


def contacts_after(engagement: dict[str, Any], contacts: dict[str, str]) -> dict[str, str]:
    """The deal's known contact roles after one engagement message (``contacts`` itself if it changes none)."""
    if engagement.get("type") != "stakeholder.added" and not engagement.get("attendees"):
        return contacts  # states no roles
    learned = _roles_given(engagement)
    if not learned or all(contacts.get(person) == role for person, role in learned.items()):
        return contacts
    return {**contacts, **learned}


def _roles_given(engagement: dict[str, Any]) -> dict[str, str]:
    """The contact roles one engagement message states (a later mention of a contact wins)."""
    roles: dict[str, str] = {}
    if engagement.get("type") == "stakeholder.added":
        roles[engagement["contact_id"]] = engagement["role"]
    for attendee in engagement.get("attendees") or []:
        if attendee.get("role"):
            roles[attendee["contact_id"]] = attendee["role"]
    return roles
