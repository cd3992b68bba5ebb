"""``trusted`` builds the same model as validating does, from values already valid."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from processors.handling.serde import to_bytes
from schemas.alerts import Alert, AlertCoaching
from schemas.base import Evidence, copy_with, trusted
from schemas.facts import CommandRejected, EngagementRecorded, EvidenceRecorded

AT = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
ENVELOPE = {"event_id": "f", "deal_id": "d", "occurred_at": AT, "caused_by": "e"}
CASES: list[tuple[type[Any], dict[str, Any]]] = [
    (EngagementRecorded, {**ENVELOPE, "engagement_type": "email.sent", "engagement": {"type": "email.sent", "n": 1.5}}),
    (EngagementRecorded, {**ENVELOPE, "engagement_type": "x", "engagement": {}, "momentum": ["budget_shared"]}),
    (EvidenceRecorded, {**ENVELOPE, "criterion": "c", "evidence": Evidence(kind="email", reference="r"),
                        "recorded_by": "engagement", "source_event_id": "e"}),
    (CommandRejected, {**ENVELOPE, "command_type": "stage.change", "requested": {"type": "stage.change"},
                       "reason": "exit_criteria_unmet", "message": "m"}),
    (Alert, {"alert_id": "a", "type": "momentum.detected", "deal_id": "d", "severity": "info", "raised_at": AT,
             "stage": None, "owner_id": "o", "caused_by": "e", "details": {"signals": []}, "kind": "notification",
             "coaching": AlertCoaching(next_best_action="call")}),
]


@pytest.mark.parametrize(("model", "values"), CASES)
def test_trusted_builds_what_validation_builds(model: type[Any], values: dict[str, Any]) -> None:
    built, validated = trusted(model, **values), model(**values)
    assert built == validated
    assert list(built.__dict__) == list(validated.__dict__)
    assert built.model_fields_set == validated.model_fields_set
    assert to_bytes(built) == to_bytes(validated)


def test_defaults_from_factories_are_fresh() -> None:
    values = {**ENVELOPE, "engagement_type": "x", "engagement": {}}
    assert trusted(EngagementRecorded, **values).momentum is not trusted(EngagementRecorded, **values).momentum


def test_missing_and_unknown_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="missing"):
        trusted(EngagementRecorded, **ENVELOPE)
    with pytest.raises(TypeError, match="unknown"):
        trusted(Evidence, kind="email", reference="r", colour="red")


@pytest.mark.parametrize(("model", "values"), CASES)
def test_copy_with_is_model_copy(model: type[Any], values: dict[str, Any]) -> None:
    original = model(**values)
    update = {"deal_id": "d2"} if "deal_id" in values else {"reference": "r2"}
    copied, expected = copy_with(original, update), original.model_copy(update=update)
    assert copied == expected
    assert list(copied.__dict__) == list(expected.__dict__)
    assert copied.model_fields_set == expected.model_fields_set
    assert to_bytes(copied) == to_bytes(expected)
    assert original.model_dump() == model(**values).model_dump()  # the original is left as it was
