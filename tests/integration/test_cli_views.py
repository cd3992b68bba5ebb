"""The manager views of the CLI and `dealflow backtest --database-url`, against the real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from processors.config import Settings
from processors.tools.sample import sample_stream
from tests.integration.support import REPO_ROOT, fresh_database, settings_env

END = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processors.cli", *args], cwd=REPO_ROOT, env=settings_env(settings),
                          capture_output=True, text=True, timeout=120, check=False)


def _json(settings: Settings, *args: str) -> Any:
    result = _cli(settings, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_backtest_builds_the_projection_and_the_views_read_it(base_settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "sample.jsonl"
    source.write_text("\n".join(m if isinstance(m, str) else json.dumps(m) for m in sample_stream(END)) + "\n")
    with fresh_database(base_settings) as url:
        settings = Settings(**{**base_settings.__dict__, "database_url": url})
        result = _cli(settings, "backtest", str(source), "--database-url", url, "--out", str(tmp_path / "a.jsonl"),
                      "--as-of", "2026-06-01T00:00:00Z")
        assert result.returncode == 0, result.stderr
        assert "projected" in result.stderr

        pipeline = _json(settings, "pipeline")
        by_stage = {(r["status"], r["stage"]): r for r in pipeline}
        assert by_stage[("open", "proposal")]["deals"] == 1 and by_stage[("open", "proposal")]["amount"] == 48000
        assert by_stage[("won", "closing")]["amount"] == 150000
        assert [r["status"] for r in pipeline][:3] == ["open", "open", "open"]  # open stages first, in order
        assert by_stage[("open", "proposal")]["open_alerts"] >= 1

        deal = _json(settings, "deal", "acme")
        assert deal["deal"]["stage"] == "proposal"
        kinds = [item["kind"] for item in deal["timeline"]]
        assert kinds.count("stage") == 2 and kinds.count("refused") == 1 and kinds.count("evidence") == 8
        assert {row["type"] for row in deal["engagement"]} == {"stakeholder.added", "meeting.held", "email.replied"}

        weekly = _json(settings, "review", "weekly")
        assert [row["deal_id"] for row in weekly] == ["acme"]  # the only open deal in a late stage
        assert weekly[0]["close_date_risk"] in ("ok", "at_risk", "passed") and weekly[0]["open_alerts"] >= 1
        monthly = _json(settings, "review", "monthly")
        assert {row["deal_id"] for row in monthly} <= {"acme", "initech"}
        sample = _json(settings, "review", "quarterly", "--seed", "0.5", "--per-stage", "1")
        assert sample == _json(settings, "review", "quarterly", "--seed", "0.5", "--per-stage", "1")  # reproducible
        assert len({row["stage"] for row in sample}) == len(sample)
        acme = [row for row in sample if row["deal_id"] == "acme"]
        assert not acme or len(acme[0]["evidence"]) == 8

        table = _cli(settings, "pipeline")
        assert "Pipeline: deals per stage" in table.stdout and "proposal" in table.stdout
        missing = _cli(settings, "deal", "nope")
        assert missing.returncode == 1 and "no deal 'nope'" in missing.stderr
