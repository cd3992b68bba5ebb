"""The manager's part of a playbook: blocker codes and stall points, coaching, nurture, loss reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from schemas.playbook import Playbook

Code = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")

DEFAULT_LOSS_REASONS = ["price", "no_decision", "timing", "chose_competitor", "budget_cut", "champion_left",
                        "requirements_not_met"]
"""``[R2]``-style reasons a lost deal is closed with, when a playbook names none."""


class ManagerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockerCode(ManagerModel):
    """One blocker category (``[B1]``-``[B7]``): what is blocking a stuck deal."""

    code: str = Code
    tag: str | None = Field(default=None, max_length=16)
    label: str = Field(min_length=1, max_length=128)


class StallPoint(ManagerModel):
    """A typical stall point of the exit from ``stage`` (the digest's list per transition), under a blocker code."""

    code: str = Code
    stage: str = Field(min_length=1, max_length=64)
    blocker: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=256)


class Coaching(ManagerModel):
    """``[M1]``: what to do about an alert, and the questions a manager asks the rep."""

    alert: str = Field(min_length=1, max_length=64)
    rule: str | None = Field(default=None, max_length=64)
    """The alert's rule (``deal.stalled``: ``time_in_stage``, ...); none: every rule of the type."""
    next_best_action: str = Field(min_length=1, max_length=512)
    questions: list[str] = Field(default_factory=list, max_length=10)


class Nurture(ManagerModel):
    """``[G5]``: when to suggest nurture, and how long a parked deal may sit untouched."""

    suggest_after_conversations: int = Field(default=3, ge=1)
    """Substantive buyer conversations (held meetings, connected calls) in the stage before nurture is
    suggested for a deal that still misses its exit criteria."""
    suggest_in_stages: list[str] = Field(default_factory=lambda: ["discovery", "qualification"])
    reengage_days: float = Field(default=30, gt=0)
    """A deal in the nurture stage without activity for this long raises ``deal.parked_too_long``."""


def check_manager_references(playbook: Playbook) -> None:
    """Cross-references of the manager's part of ``playbook``; ValueError naming the first broken one."""
    codes = [blocker.code for blocker in playbook.blockers]
    if len(set(codes)) != len(codes):
        raise ValueError(f"blockers: duplicate codes in {codes}")
    stages = set(playbook.stage_names)
    points = [point.code for point in playbook.stall_points]
    if len(set(points)) != len(points):
        raise ValueError(f"stall_points: duplicate codes in {points}")
    for i, point in enumerate(playbook.stall_points):
        if point.stage not in stages:
            raise ValueError(f"stall_points[{i}].stage: unknown stage {point.stage!r}")
        if point.blocker not in codes:
            raise ValueError(f"stall_points[{i}].blocker: unknown blocker code {point.blocker!r}")
    seen: set[tuple[str, str | None]] = set()
    for i, coaching in enumerate(playbook.coaching):
        key = (coaching.alert, coaching.rule)
        if key in seen:
            raise ValueError(f"coaching[{i}]: a second entry for {coaching.alert!r} rule {coaching.rule!r}")
        seen.add(key)
    for name in playbook.nurture.suggest_in_stages:
        if name not in stages:
            raise ValueError(f"nurture.suggest_in_stages: unknown stage {name!r}")
    if not playbook.loss_reasons:
        raise ValueError("loss_reasons: name at least one reason a deal is lost for")
