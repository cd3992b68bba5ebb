"""Teams in the playbook: members, manager, per-team detector overrides, their checks and lookups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, PlaybookError, default_playbook, load_playbook
from schemas.playbook import Detectors, Playbook

TEAMS = """
[[teams]]
name = "enterprise"
manager = "mgr-eve"
members = ["rep-ana", "rep-bo"]

[teams.detectors]
inactive_days = 14
stall_warning_ratio = 2.0

[[teams]]
name = "smb"
manager = "rep-cy"                # the manager may be a member
members = ["rep-cy", "rep-dan"]
"""


def _write(tmp_path: Path, teams: str) -> Path:
    file = tmp_path / "teams.toml"
    file.write_text(DEFAULT_PLAYBOOK_PATH.read_text() + teams)
    return file


def _load(tmp_path: Path, teams: str = TEAMS) -> Playbook:
    return load_playbook(_write(tmp_path, teams))


def _refused(tmp_path: Path, teams: str) -> str:
    with pytest.raises(PlaybookError) as caught:
        _load(tmp_path, teams)
    return str(caught.value)


def test_teams_are_read_from_the_toml_file(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    enterprise, smb = playbook.teams
    assert (enterprise.name, enterprise.manager, enterprise.members) == ("enterprise", "mgr-eve", ["rep-ana", "rep-bo"])
    assert enterprise.detectors == {"inactive_days": 14.0, "stall_warning_ratio": 2.0}
    assert (smb.name, smb.manager, smb.members, smb.detectors) == ("smb", "rep-cy", ["rep-cy", "rep-dan"], {})


def test_team_of_finds_the_members_team_only(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    assert playbook.team_of("rep-bo") is playbook.teams[0]
    assert playbook.team_of("rep-cy") is playbook.teams[1]
    assert playbook.team_of("mgr-eve") is None  # a manager who is not a member is in no team
    assert playbook.team_of("rep-zed") is None
    assert playbook.team_of(None) is None
    assert playbook.team("smb") is playbook.teams[1]
    assert playbook.team("nope") is None


def test_for_team_applies_the_overrides_to_the_base_detectors(tmp_path: Path) -> None:
    playbook = _load(tmp_path, TEAMS.replace("[teams.detectors]", "[teams.detectors]\nghosting_touches = 5"))
    enterprise = playbook.for_team("enterprise")
    assert enterprise.detectors == playbook.detectors.model_copy(
        update={"inactive_days": 14.0, "stall_warning_ratio": 2.0, "ghosting_touches": 5})
    assert playbook.detectors == Detectors()  # the base is unchanged
    assert enterprise.stages is playbook.stages and enterprise.teams is playbook.teams
    assert enterprise.team_of("rep-ana") is playbook.teams[0]


def test_for_team_is_the_same_object_on_every_call(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    enterprise = playbook.for_team("enterprise")
    assert enterprise is not playbook
    assert playbook.for_team("enterprise") is enterprise
    assert playbook.for_team(None) is playbook
    assert playbook.for_team("smb") is playbook  # no overrides: the playbook itself


def test_for_team_of_a_team_playbook_starts_from_the_base_detectors(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    enterprise = playbook.for_team("enterprise")
    assert enterprise.for_team("enterprise") is enterprise
    base = enterprise.for_team(None)
    assert base.detectors == playbook.detectors
    assert enterprise.for_team("smb") is base


def test_an_unknown_team_name_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="nope"):
        _load(tmp_path).for_team("nope")


def test_with_benchmarks_keeps_the_teams_and_its_team_playbooks_carry_the_benchmarks(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    before = playbook.for_team("enterprise")
    learned = playbook.with_benchmarks({"discovery": 3.5})
    assert learned.teams == playbook.teams
    enterprise = learned.for_team("enterprise")
    assert enterprise is not before
    assert enterprise.stage("discovery").benchmark_days == 3.5  # type: ignore[union-attr]
    assert enterprise.detectors.inactive_days == 14.0
    assert learned.for_team("enterprise") is enterprise
    assert learned.for_team("smb") is learned
    assert playbook.for_team("enterprise") is before  # the original's team playbooks are its own
    again = before.with_benchmarks({"discovery": 2.0})  # a team playbook's copy keeps its team and base
    assert again.detectors.inactive_days == 14.0
    assert again.for_team(None).detectors == playbook.detectors
    assert again.for_team(None).stage("discovery").benchmark_days == 2.0  # type: ignore[union-attr]


def test_a_copy_with_other_detectors_derives_its_own_team_playbooks(tmp_path: Path) -> None:
    playbook = _load(tmp_path)
    playbook.for_team("enterprise")
    changed = playbook.model_copy(update={"detectors": playbook.detectors.model_copy(update={"ghosting_touches": 4})})
    assert changed.for_team("enterprise").detectors.ghosting_touches == 4
    assert changed.for_team("enterprise").detectors.inactive_days == 14.0
    rebased = playbook.for_team("enterprise").model_copy(update={"detectors": changed.detectors})
    assert rebased.for_team(None) is rebased  # new detectors: a base of its own, not a team's playbook
    assert rebased.for_team("enterprise").detectors == changed.for_team("enterprise").detectors


def test_unknown_override_keys_are_refused_naming_key_and_team(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace("inactive_days", "inactiv_days"))
    assert "teams.0.detectors" in message
    assert "team 'enterprise': unknown detector setting 'inactiv_days' (did you mean 'inactive_days'?)" in message
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", "colour = 14"))
    assert "team 'enterprise': unknown detector setting 'colour' (known: stall_warning_ratio," in message


def test_override_values_have_the_constraints_of_the_detectors(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", "inactive_days = 0\nghosting_touches = 0"))
    assert ("team 'enterprise': detectors.inactive_days: Input should be greater than 0; "
            "detectors.ghosting_touches: Input should be greater than or equal to 1") in message
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", 'inactive_days = "soon"'))
    assert "team 'enterprise': detectors.inactive_days: Input should be a valid number" in message


def test_overrides_must_keep_the_cross_field_checks(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", "velocity_baseline_days = 80"))
    assert "teams: team 'enterprise': detectors: detector windows" in message
    assert "must fit in 90 days of history" in message
    # the check is on the team's effective detectors: the base's own windows count
    assert _load(tmp_path, TEAMS.replace("inactive_days = 14", "velocity_baseline_days = 76")).for_team(
        "enterprise").detectors.history_days == 90


def test_overrides_must_name_open_stages(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", 'no_response_stages = ["proposal", "demo"]'))
    assert "teams: team 'enterprise': detectors.no_response_stages: unknown stage 'demo'" in message
    message = _refused(tmp_path, TEAMS.replace("inactive_days = 14", 'single_threaded_from_stage = "nurture"'))
    assert "teams: team 'enterprise': detectors.single_threaded_from_stage: unknown stage 'nurture'" in message


def test_team_names_are_unique(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace('name = "smb"', 'name = "enterprise"'))
    assert "teams: duplicate team name 'enterprise'" in message


def test_an_owner_is_in_at_most_one_team(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace('"rep-cy", "rep-dan"', '"rep-cy", "rep-bo"'))
    assert "teams: owner 'rep-bo' is a member of both 'enterprise' and 'smb'" in message
    message = _refused(tmp_path, TEAMS.replace('"rep-ana", "rep-bo"', '"rep-ana", "rep-bo", "rep-ana"'))
    assert "team 'enterprise': members listed more than once: ['rep-ana']" in message


def test_a_team_needs_a_manager_and_members(tmp_path: Path) -> None:
    message = _refused(tmp_path, TEAMS.replace('manager = "mgr-eve"\n', ""))
    assert re.search(r"teams\.0\.manager: Field required", message)
    message = _refused(tmp_path, TEAMS.replace('["rep-ana", "rep-bo"]', "[]"))
    assert "teams.0.members: List should have at least 1 item" in message
    message = _refused(tmp_path, TEAMS.replace('members = ["rep-ana", "rep-bo"]', 'members = ["rep-ana"]\nboard = 1'))
    assert "teams.0.board: Extra inputs are not permitted" in message


def test_the_default_playbook_has_no_teams_and_its_commented_example_parses(tmp_path: Path) -> None:
    playbook = default_playbook()
    assert playbook.teams == []
    assert playbook.team_of("rep-ana") is None
    assert playbook.for_team(None) is playbook
    text = DEFAULT_PLAYBOOK_PATH.read_text()
    example = [line.removeprefix("# ") for line in text[text.index("# [[teams]]"):].splitlines()]
    teams = _load(tmp_path, "\n" + "\n".join(example) + "\n").teams
    assert [(t.name, t.manager, t.members) for t in teams] == [("enterprise", "mgr-eve", ["rep-ana", "rep-bo"])]
    assert teams[0].detectors == {"stall_warning_ratio": 2.0, "inactive_days": 14.0}
