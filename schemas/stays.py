"""Completed stays (topic ``dealflow.stays``): what the learned stage benchmarks are computed from.

One record per completed stay in a stage whose benchmark is ``learned``, keyed by the event id of
the stage change that completed it, so a stay published again after a crash replaces its first
record (the topic is compacted) instead of counting twice. The record's Kafka timestamp (the
producer's create time) says when it was recorded: the benchmark in force on a UTC day is
computed from the stays recorded before that day began.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from schemas.base import WireModel


class StayCompleted(WireModel):
    """A deal left a stage whose benchmark is learned, after ``days_in_stage`` days in it."""

    type: Literal["stay.completed"] = "stay.completed"
    event_id: str
    """The event id of the stage-change fact that completed the stay (also the Kafka key)."""
    deal_id: str
    stage: str
    days_in_stage: float
    occurred_at: AwareDatetime
    """When the stay ended (the stage change's ``occurred_at``)."""
