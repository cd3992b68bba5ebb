"""``kinds_of`` answers as the predicates do, for engagement judged by type alone and the rest."""

from __future__ import annotations

import itertools

from processors.core.engagement_kinds import _KINDS_OF_TYPE, _judged, kinds_of

TYPES = (*_KINDS_OF_TYPE, "call.logged", "meeting.scheduled", "signal.observed", "unknown.type")
FIELDS = {
    "direction": (None, "inbound", "outbound"),
    "connected": (None, False, True),
    "initiated_by": (None, "buyer", "rep"),
    "signal": (None, "pricing_feedback", "budget_shared"),
}


def test_kinds_of_equals_the_predicates_for_every_field_combination() -> None:
    for kind in TYPES:
        for values in itertools.product(*FIELDS.values()):
            engagement = {"type": kind, **{k: v for k, v in zip(FIELDS, values, strict=True) if v is not None}}
            assert kinds_of(engagement) == _judged(engagement), engagement
