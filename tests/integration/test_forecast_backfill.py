"""Issue 18 end to end on the real PostgreSQL: a simulated organisation is replayed through the core into
the projections, ``dealflow forecast --backtest --save`` stores every weekly forecast of the replay, and
``forecast_vs_actual`` sets each beside what the projections say was won in its period, as the report did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.cli.main import main
from processors.config import Settings
from tests.integration.support import fresh_database, query_rows

SIMULATION = ["simulate", "--deals", "300", "--days", "240", "--seed", "12", "--end", "2026-12-01T00:00:00+00:00"]


@pytest.fixture(scope="module")
def database(base_settings: Settings) -> Iterator[str]:
    with fresh_database(base_settings) as url:
        yield url


def test_backfilled_snapshots_match_the_backtest_report(database: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    stream, alerts, facts = tmp_path / "org.jsonl", tmp_path / "alerts.jsonl", tmp_path / "facts.jsonl"
    assert main([*SIMULATION, "--out", str(stream)]) == 0
    assert main(["backtest", str(stream), "--out", str(alerts), "--events-out", str(facts),
                 "--database-url", database]) == 0
    monkeypatch.setenv("DEALFLOW_DATABASE_URL", database)
    capsys.readouterr()
    assert main(["forecast", "--events", str(facts), "--alerts", str(alerts), "--backtest", "--period-kind",
                 "month", "--save", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    columns = ("period", "week", "model", "expected", "baseline", "actual")
    rows = [dict(zip(columns, row, strict=True)) for row in
            query_rows(database, f"SELECT {', '.join(columns)} FROM forecast_vs_actual ORDER BY period, as_of")]
    stored = {(row["period"], row["week"]): row for row in rows}
    assert len(report["periods"]) >= 3 and len(stored) == len(rows)
    for week in report["weeks"]:
        row = stored.get((week["period"], week["week"]))
        if row is None:  # a week with no open deal and nothing won in the period has no line to store
            assert week["expected"] == week["baseline"] == 0.0
            continue
        assert row["model"] == week["model"]
        assert float(row["expected"]) == pytest.approx(week["expected"], abs=0.01)
        assert float(row["baseline"]) == pytest.approx(week["baseline"], abs=0.01)
        assert float(row["actual"]) == pytest.approx(report["actual"][week["period"]], abs=0.01)
    assert len(rows) >= len(report["weeks"]) - 5 and any(float(row["actual"]) > 0 for row in rows)
    assert any(row["model"] == "evidence" for row in rows), "the learned model must be among the stored weeks"
