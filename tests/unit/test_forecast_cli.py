"""``dealflow forecast`` from backtest outputs: the tables, --json, --backtest and helpful errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.cli.main import main

SAMPLE = ["simulate", "--deals", "120", "--days", "200", "--seed", "3", "--end", "2026-12-01T00:00:00+00:00"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("forecast")
    stream, alerts, facts = folder / "org.jsonl", folder / "alerts.jsonl", folder / "facts.jsonl"
    assert main([*SAMPLE, "--out", str(stream)]) == 0
    assert main(["backtest", str(stream), "--out", str(alerts), "--events-out", str(facts)]) == 0
    return facts, alerts


def test_json_forecast_for_one_period(outputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    facts, alerts = outputs
    capsys.readouterr()
    assert main(["forecast", "--events", str(facts), "--alerts", str(alerts), "--as-of", "2026-10-05",
                 "--period", "2026-Q4", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["period_kind"] == "quarter" and found["as_of"].startswith("2026-10-05")
    assert {line["period"] for line in found["lines"]} == {"2026-Q4"}
    assert all(deal["period"] == "2026-Q4" for deal in found["deals"])


def test_backtest_tables(outputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    facts, alerts = outputs
    assert main(["forecast", "--events", str(facts), "--alerts", str(alerts), "--backtest",
                 "--period-kind", "month"]) == 0
    printed = capsys.readouterr().out
    assert "Forecast against what was won, per period" in printed and "Brier score" in printed
    assert "crm_pipeline" in printed and "CRM" in printed  # the CRM's weighted pipeline beside the others


def test_a_bad_period_is_explained(outputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    facts, _ = outputs
    assert main(["forecast", "--events", str(facts), "--period", "2027-Q7"]) == 2
    assert "a quarter like 2027-Q1 or a month like 2027-03" in capsys.readouterr().err
