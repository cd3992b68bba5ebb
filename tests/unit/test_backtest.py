"""`dealflow backtest`: event-time order, invalid lines reported, same core as live."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from processors.playbooks.loader import default_playbook
from processors.replay.backtest import load_json_lines, run_backtest, without_cycle_collection
from processors.tools.sample import sample_stream
from tests.builders import create_message, message

END = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _lines() -> list[str]:
    return [m if isinstance(m, str) else json.dumps(m) for m in sample_stream(END)]


def _run(lines: list[str]) -> tuple[list[dict[str, object]], list[dict[str, object]], str]:
    alerts, events, errors = io.BytesIO(), io.BytesIO(), io.StringIO()
    run_backtest(lines, default_playbook(), alerts, events, errors=errors)
    return load_json_lines(alerts.getvalue()), load_json_lines(events.getvalue()), errors.getvalue()


def test_sample_stream_backtest_tells_the_story() -> None:
    alerts, facts, errors = _run(_lines())
    assert [e.split(":")[0] for e in errors.splitlines()] == ["line 28", "line 29"]  # the two broken messages
    kinds = [(f["deal_id"], f["type"]) for f in facts if f["type"] != "engagement.recorded"]
    assert ("acme", "stage.advanced") in kinds and ("hooli", "deal.won") in kinds
    assert ("initech", "stage.regressed") in kinds and ("umbrella", "deal.disqualified") in kinds
    assert sum(1 for a in alerts if a["type"] == "gate.rejected") == 4  # acme, globex, initech, hooli


def test_input_is_ordered_by_event_time_with_ties_in_file_order() -> None:
    create = _line(create_message(deal_id="d", event_id="c", when=_jan(1)))
    first = _line(message("email.sent", deal_id="d", event_id="b", when=_jan(2), contact_id="x"))
    tie = _line(message("email.opened", deal_id="d", event_id="a", when=_jan(2), contact_id="x"))
    _, facts, _ = _run([first, tie, create])  # the create comes last in the file, first in time
    assert [f["caused_by"] for f in facts] == ["c", "b", "a"]
    times = [f["occurred_at"] for f in _run(_lines())[1]]
    assert times == sorted(times, key=lambda t: datetime.fromisoformat(str(t)))


def test_backtest_command_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(_lines()) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "processors.cli", "backtest", str(source), "--events-out", str(tmp_path / "ev.jsonl"),
         "--out", str(tmp_path / "al.jsonl"), "--as-of", "2026-03-02T00:00:00Z"],
        capture_output=True, text=True, check=True,
    )
    assert "stage changes accepted" in result.stderr and "line 28:" in result.stderr
    assert len(load_json_lines((tmp_path / "al.jsonl").read_bytes())) >= 4
    assert all(f["type"] for f in load_json_lines((tmp_path / "ev.jsonl").read_bytes()))


def _jan(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=timezone.utc)


def _line(payload: dict[str, object]) -> str:
    return json.dumps(payload)


def _create(deal: str, at: datetime) -> str:
    return _line(create_message(deal_id=deal, event_id=f"{deal}-c", when=at))


def test_deadlines_between_messages_fire_at_their_own_moments_in_time_order() -> None:
    lines = [_create("a", _jan(1)), _create("b", _jan(3)),
             _line(message("email.opened", deal_id="a", event_id="a-late", when=_jan(20), contact_id="x"))]
    alerts, _, _ = _run(lines)
    raised = [(a["deal_id"], a["type"], a["raised_at"]) for a in alerts if a["status"] == "raised"]
    assert raised[:3] == [("a", "deal.inactive", "2026-01-08T00:00:00Z"),
                          ("b", "deal.inactive", "2026-01-10T00:00:00Z"),
                          ("a", "deal.stalled", "2026-01-11T12:00:00Z")]
    times = [a["updated_at"] for a in alerts]  # the moment of each record's change
    assert times == sorted(times)


def test_as_of_fires_the_deadlines_after_the_last_message_and_never_moves_back() -> None:
    lines = [_create("a", _jan(1))]
    none_yet = io.BytesIO()
    run_backtest(lines, default_playbook(), none_yet, None, as_of=datetime(2025, 1, 1, tzinfo=timezone.utc),
                 errors=io.StringIO())
    assert load_json_lines(none_yet.getvalue()) == []
    later = io.BytesIO()
    run_backtest(lines, default_playbook(), later, None, as_of=datetime(2026, 1, 15, tzinfo=timezone.utc),
                 errors=io.StringIO())
    assert [(a["type"], a["severity"]) for a in load_json_lines(later.getvalue())] == [
        ("deal.inactive", "warning"), ("deal.stalled", "warning"), ("deal.stalled", "critical")]


def test_what_a_replay_leaves_joins_the_oldest_generation_without_a_collection() -> None:
    gc.enable()
    with without_cycle_collection():
        kept = [[] for _ in range(1_000)]  # built while the collector is off, as a replay's states are
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert all(id(obj) in oldest for obj in kept)  # not walked by a young collection on the way
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_cycle_collector_is_off_only_while_a_replay_runs() -> None:
    seen: list[bool] = []

    def sink(kind: str, payload: dict[str, object]) -> None:
        seen.append(gc.isenabled())

    gc.enable()
    run_backtest(_lines(), default_playbook(), io.BytesIO(), None, errors=io.StringIO(), sink=sink)
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        _run(_lines())
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()
