"""The playbook file format: the default follows the seed; errors name the line or field."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.playbooks.loader import DEFAULT_PLAYBOOK_PATH, PlaybookError, default_playbook, load_playbook
from tests.builders import DISCOVERY, NEGOTIATION, PROPOSAL, QUALIFICATION


def test_default_playbook_follows_the_seed() -> None:
    playbook = default_playbook()
    assert playbook.stage_names == ["discovery", "qualification", "proposal", "negotiation", "closing"]
    assert [s.exit_criteria for s in playbook.stages] == [DISCOVERY, QUALIFICATION, PROPOSAL, NEGOTIATION,
                                                          ["contract_signed"]]
    assert [s.benchmark_days for s in playbook.stages] == [7, 14, 21, 28, 10]
    assert [s.name for s in playbook.stages if s.late] == ["proposal", "negotiation", "closing"]
    assert playbook.stage("discovery").required_fields == ["owner_id", "amount", "close_date"]
    assert playbook.stage("qualification").required_fields[-1] == "next_step"
    assert playbook.nurture_stage == "nurture"
    assert "buying_process_restarted" in playbook.regression_reasons
    assert playbook.disqualification_reasons == ["cannot_afford", "chose_competitor", "problem_mismatch",
                                                 "no_purchase_intent", "poor_return"]


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nstages = [\n  oops\n]\n')
    with pytest.raises(PlaybookError, match=r"line 3"):
        load_playbook(bad)


def test_validation_errors_name_the_field(tmp_path: Path) -> None:
    text = DEFAULT_PLAYBOOK_PATH.read_text().replace("benchmark_days = 21", "benchmark_days = -3")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(PlaybookError, match=r"stages\.2\.benchmark_days"):
        load_playbook(bad)


def test_unknown_references_are_refused(tmp_path: Path) -> None:
    text = DEFAULT_PLAYBOOK_PATH.read_text().replace('criterion = "decision_maker_identified"',
                                                     'criterion = "typo_criterion"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(PlaybookError, match="typo_criterion"):
        load_playbook(bad)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="not found"):
        load_playbook(tmp_path / "nope.toml")
