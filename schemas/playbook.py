"""The playbook: stages, exit criteria, required fields, benchmarks, reason codes and teams
(the manager's part, blockers, coaching, nurture and loss reasons, is in ``schemas.manager_playbook``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from schemas.manager_playbook import (
    DEFAULT_LOSS_REASONS,
    BlockerCode,
    Coaching,
    Nurture,
    StallPoint,
    check_manager_references,
)

RequiredField = Literal["owner_id", "amount", "close_date", "next_step"]


class PlaybookModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(PlaybookModel):
    """One open stage of the buyer's journey."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    exit_criteria: list[str] = Field(default_factory=list)
    required_fields: list[RequiredField] = Field(default_factory=list)
    benchmark_days: float = Field(gt=0)
    benchmark: Literal["configured", "learned"] = "configured"
    """``learned``: the median of recent completed stays, ``benchmark_days`` until enough exist."""
    late: bool = False
    review_stakeholders: bool = False
    """Entering this stage asks for a stakeholder-mapping update (``stakeholders.review_requested``)."""


class NextStepTemplate(PlaybookModel):
    """The next step a deal gets when it advances into ``stage``."""

    stage: str
    description: str = Field(min_length=1)
    due_in_days: int = Field(ge=0, le=3650)


class EngagementRule(PlaybookModel):
    """Engagement that satisfies a criterion by itself (``[T4]``).

    ``match`` says whose role is checked against ``roles``: the role in the message
    (``stakeholder.added``), an attendee's role (``meeting.held``) or the known role of the
    message's contact (for example ``email.replied`` from a contact added as economic buyer).
    """

    criterion: str
    type: Literal["stakeholder.added", "meeting.held", "email.replied", "call.logged", "content.viewed"]
    match: Literal["role", "attendee_role", "contact_role"]
    roles: list[str] = Field(min_length=1)


class Detectors(PlaybookModel):
    """Thresholds of the real-time detectors (``[V1]``-``[V4]``, ``[T2]``, ``[G6]``, ``[B2]``, ``[M1]``)."""

    stall_warning_ratio: float = Field(default=1.5, gt=0)
    stall_critical_ratio: float = Field(default=2.0, gt=0)
    no_response_stages: list[str] = Field(default_factory=lambda: ["proposal"])
    no_response_days: float = Field(default=14, gt=0)
    inactive_days: float = Field(default=7, gt=0)
    ghosting_touches: int = Field(default=3, ge=1)
    ghosting_silence_days: float = Field(default=7, gt=0)
    ghosting_median_multiplier: float = Field(default=3, gt=0)
    ghosting_min_responses: int = Field(default=3, ge=1)
    single_threaded_from_stage: str = "qualification"
    single_threaded_window_days: float = Field(default=30, gt=0)
    single_threaded_min_engagements: int = Field(default=3, ge=1)
    economic_buyer_silent_days: float = Field(default=14, gt=0)
    velocity_recent_days: float = Field(default=14, gt=0)
    velocity_baseline_days: float = Field(default=28, gt=0)
    velocity_drop_ratio: float = Field(default=0.5, gt=0)
    velocity_min_baseline: int = Field(default=4, ge=1)
    momentum_repeat_days: float = Field(default=14, ge=0)
    """A progress signal is reported once per deal within this many days."""
    new_stakeholder_after_days: float = Field(default=7, ge=0)
    """Contacts a deal meets in its first days (a week) are its first contacts, not new stakeholders."""
    faster_responses_min: int = Field(default=3, ge=1)
    """``faster_responses``: each of the latest this many response times against the earlier ones' median."""
    faster_responses_ratio: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _check_windows(self) -> "Detectors":
        if self.history_days > 90:
            raise ValueError("detector windows (velocity_recent_days + velocity_baseline_days, "
                             "single_threaded_window_days) must fit in 90 days of history")
        return self

    @property
    def history_days(self) -> float:
        """How far back engagement history must reach for every windowed detector."""
        return max(self.velocity_recent_days + self.velocity_baseline_days, self.single_threaded_window_days)


_OVERRIDE_FIELDS: dict[str, Any] = {
    name: (Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation, None)
    for name, info in Detectors.model_fields.items()}
_DetectorOverrides = create_model("DetectorOverrides", __base__=PlaybookModel, **_OVERRIDE_FIELDS)
"""Any subset of the ``Detectors`` settings, each with the same constraints (no cross-field checks)."""

OwnerId = Annotated[str, Field(min_length=1, max_length=512)]


class Team(PlaybookModel):
    """A team of deal owners, its manager, and the detector settings that differ for it."""

    name: str = Field(min_length=1, max_length=64)
    manager: OwnerId
    """The manager's owner id; the manager need not be a member."""
    members: list[OwnerId] = Field(min_length=1)
    detectors: dict[str, Any] = Field(default_factory=dict)
    """Overrides of ``[detectors]`` settings for deals owned by members; the rest come from the playbook."""

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, members: list[str], info: ValidationInfo) -> list[str]:
        repeated = sorted({m for m in members if members.count(m) > 1})
        if repeated:
            raise ValueError(f"team {info.data.get('name', '?')!r}: members listed more than once: {repeated}")
        return members

    @field_validator("detectors")
    @classmethod
    def _valid_overrides(cls, overrides: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        try:
            valid = _DetectorOverrides.model_validate(overrides)
        except ValidationError as exc:
            problems = "; ".join(_override_problem(error) for error in exc.errors(include_url=False))
            raise ValueError(f"team {info.data.get('name', '?')!r}: {problems}") from None
        return valid.model_dump(exclude_unset=True)


def _override_problem(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] != "extra_forbidden":
        return f"detectors.{key}: {error['msg']}"
    close = get_close_matches(key, Detectors.model_fields, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(Detectors.model_fields)})"
    return f"unknown detector setting {key!r}{hint}"


def _apply_overrides(base: Detectors, team: Team) -> Detectors:
    """``base`` with ``team``'s overrides, checked as a whole (``Detectors``' cross-field checks)."""
    try:
        return Detectors.model_validate({**base.model_dump(), **team.detectors})
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors(include_url=False))
        raise ValueError(f"teams: team {team.name!r}: detectors: {problems}") from None


class Learning(PlaybookModel):
    """How learned stage benchmarks are computed."""

    window_stays: int = Field(default=200, ge=1)
    """The most recent completed stays per stage that the median is taken over."""
    min_stays: int = Field(default=20, ge=1)
    """Fewer completed stays than this: the configured ``benchmark_days`` is used."""


class Playbook(PlaybookModel):
    """A complete playbook; the default one follows the seed digest exactly."""

    name: str = "default"
    stages: list[Stage] = Field(min_length=1)
    nurture_stage: str = "nurture"
    regression_reasons: list[str] = Field(min_length=1)
    disqualification_reasons: list[str] = Field(min_length=1)
    next_step_templates: list[NextStepTemplate] = Field(default_factory=list)
    engagement_rules: list[EngagementRule] = Field(default_factory=list)
    detectors: Detectors = Field(default_factory=Detectors)
    learning: Learning = Field(default_factory=Learning)
    teams: list[Team] = Field(default_factory=list)
    loss_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_LOSS_REASONS))
    blockers: list[BlockerCode] = Field(default_factory=list)
    stall_points: list[StallPoint] = Field(default_factory=list)
    coaching: list[Coaching] = Field(default_factory=list)
    nurture: Nurture = Field(default_factory=Nurture)
    _derived: tuple[list[Stage], _Lookups] | None = PrivateAttr(default=None)
    _teams: _Teams | None = PrivateAttr(default=None)
    _as_team: tuple[str, Detectors] | None = PrivateAttr(default=None)
    """Set on ``for_team``'s result: (its team, the detectors before that team's overrides)."""

    @model_validator(mode="after")
    def _check_references(self) -> "Playbook":
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stages: duplicate stage names in {names}")
        if self.nurture_stage in names:
            raise ValueError(f"nurture_stage: {self.nurture_stage!r} must not also be an open stage")
        criteria = self.all_criteria()
        for i, template in enumerate(self.next_step_templates):
            if template.stage not in names:
                raise ValueError(f"next_step_templates[{i}].stage: unknown stage {template.stage!r}")
        _check_detector_stages(self.detectors, names, "detectors")
        for i, rule in enumerate(self.engagement_rules):
            if rule.criterion not in criteria:
                raise ValueError(f"engagement_rules[{i}].criterion: unknown criterion {rule.criterion!r}")
        check_manager_references(self)
        return self

    @model_validator(mode="after")
    def _check_teams(self) -> "Playbook":
        team_of: dict[str, str] = {}
        seen: set[str] = set()
        for team in self.teams:
            if team.name in seen:
                raise ValueError(f"teams: duplicate team name {team.name!r}")
            seen.add(team.name)
            for member in team.members:
                other = team_of.setdefault(member, team.name)
                if other != team.name:
                    raise ValueError(f"teams: owner {member!r} is a member of both {other!r} and {team.name!r}")
            _check_detector_stages(_apply_overrides(self.detectors, team), self.stage_names,
                                   f"teams: team {team.name!r}: detectors")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "Playbook":
        """A copy (see pydantic); its team playbooks are its own, built again on first use."""
        copy = super().model_copy(update=update, deep=deep)
        private = copy.__pydantic_private__
        assert private is not None
        private["_teams"] = None
        if update and "detectors" in update:
            private["_as_team"] = None
        return copy

    # -- lookups used by the core --------------------------------------------------------
    def _lookups(self) -> _Lookups:
        """Lookups over this playbook's stage list, built once per list.

        A changed copy (``model_copy`` with new stages, ``with_benchmarks``) has a new list, so
        it builds its own; the stage list itself is never changed in place.
        """
        private = self.__pydantic_private__  # a slot: faster than the ``self._derived`` attribute
        assert private is not None
        derived: tuple[list[Stage], _Lookups] | None = private["_derived"]
        if derived is None or derived[0] is not self.stages:
            derived = private["_derived"] = (self.stages, _build_lookups(self.stages))
        return derived[1]

    @property
    def stage_names(self) -> list[str]:
        return list(self._lookups().names)

    def stage(self, name: str) -> Stage | None:
        return self._lookups().by_name.get(name)

    def index(self, name: str) -> int:
        """Position of an open stage (``-1`` for anything else)."""
        return self._lookups().positions.get(name, -1)

    def has_stage(self, name: str | None) -> bool:
        """Whether ``name`` is an open stage of the playbook."""
        return name in self._lookups().positions

    def all_criteria(self) -> set[str]:
        return set(self._lookups().criteria)

    def has_criterion(self, name: str) -> bool:
        """Whether ``name`` is an exit criterion of some stage (``name in all_criteria()``)."""
        return name in self._lookups().criteria

    def with_benchmarks(self, days: dict[str, float]) -> "Playbook":
        """This playbook with some stages' benchmark days replaced."""
        stages = [s.model_copy(update={"benchmark_days": days[s.name]}) if s.name in days else s for s in self.stages]
        return self.model_copy(update={"stages": stages})

    def template_for(self, stage: str) -> NextStepTemplate | None:
        for template in self.next_step_templates:
            if template.stage == stage:
                return template
        return None

    # -- teams ---------------------------------------------------------------------------
    def _team_lookups(self) -> _Teams:
        private = self.__pydantic_private__
        assert private is not None
        teams: _Teams | None = private["_teams"]
        if teams is None:
            teams = private["_teams"] = _Teams(by_name={t.name: t for t in self.teams},
                                               by_member={m: t for t in self.teams for m in t.members})
            as_team: tuple[str, Detectors] | None = private["_as_team"]
            teams.playbooks[as_team[0] if as_team else None] = self
        return teams

    def team(self, name: str) -> Team | None:
        """The team named ``name``."""
        return self._team_lookups().by_name.get(name)

    def team_of(self, owner_id: str | None) -> Team | None:
        """The team ``owner_id`` is a member of (``None``: no owner, or in no team)."""
        return None if owner_id is None else self._team_lookups().by_member.get(owner_id)

    def for_team(self, team_name: str | None) -> "Playbook":
        """This playbook with ``team_name``'s detector overrides (``None``: with none).

        The same object on every call for a team; the playbook itself for ``None`` and for a
        team without overrides. A ``KeyError`` for a name that is no team of the playbook.
        """
        lookups = self._team_lookups()
        found = lookups.playbooks.get(team_name)
        if found is None:
            team = lookups.by_name[team_name] if team_name is not None else None
            if team is not None and not team.detectors:
                found = self.for_team(None)
            else:
                base = self._as_team[1] if self._as_team else self.detectors
                found = self.model_copy(update={"detectors": _apply_overrides(base, team) if team else base})
                private = found.__pydantic_private__
                assert private is not None
                private["_as_team"] = (team.name, base) if team else None
            lookups.playbooks[team_name] = found
        return found


@dataclass(frozen=True)
class _Lookups:
    """Lookups over one list of stages, built once (the core asks for them on every message)."""

    names: tuple[str, ...]
    by_name: dict[str, Stage]
    positions: dict[str, int]
    criteria: frozenset[str]


@dataclass(eq=False)
class _Teams:
    """Lookups over a playbook's teams, and the playbooks of its teams (built once, on first use)."""

    by_name: dict[str, Team]
    by_member: dict[str, Team]
    playbooks: dict[str | None, Playbook] = field(default_factory=dict)


def _check_detector_stages(detectors: Detectors, stages: list[str], where: str) -> None:
    """Detector settings that name stages name open stages."""
    for stage_name in detectors.no_response_stages:
        if stage_name not in stages:
            raise ValueError(f"{where}.no_response_stages: unknown stage {stage_name!r}")
    if detectors.single_threaded_from_stage not in stages:
        raise ValueError(f"{where}.single_threaded_from_stage: unknown stage {detectors.single_threaded_from_stage!r}")


def _build_lookups(stages: list[Stage]) -> _Lookups:
    names = tuple(stage.name for stage in stages)
    return _Lookups(
        names=names,
        by_name={stage.name: stage for stage in reversed(stages)},
        positions={name: i for i, name in reversed(list(enumerate(names)))},
        criteria=frozenset(criterion for stage in stages for criterion in stage.exit_criteria),
    )

