"""The live worker and `dealflow backtest` give the same facts and alerts; state survives a restart."""

from __future__ import annotations

import io
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import load_json_lines, run_backtest
from processors.tools.sample import sample_stream
from tests.builders import DISCOVERY, change_message, create_message, evidence_message, next_step_message
from tests.integration.support import WorkerProcess, wait_for

END = datetime(2026, 4, 1, tzinfo=timezone.utc)


def _by_id(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {record[key]: record for record in records}


def test_backtest_gives_the_same_facts_and_alerts_as_the_live_worker(
        settings: Settings, worker: WorkerProcess, read_topic: Any) -> None:
    run = f"-{uuid.uuid4().hex[:6]}"
    messages = sample_stream(END, run)
    alerts_out, events_out = io.BytesIO(), io.BytesIO()
    lines = [m if isinstance(m, str) else json.dumps(m) for m in messages]
    run_backtest(lines, default_playbook(), alerts_out, events_out, errors=io.StringIO())
    expected_facts = _by_id(load_json_lines(events_out.getvalue()), "event_id")
    expected_alerts = _by_id(load_json_lines(alerts_out.getvalue()), "alert_id")

    # Live, messages are processed in arrival order (a fetched batch in produce-timestamp order); the
    # backtest orders them by event time. The two agree when each deal's messages arrive in event-time
    # order, as they do when producers publish as things happen (the small delay stands for that).
    produce(settings.kafka_bootstrap, settings.topics, messages, delay=0.05)
    events, alerts = read_topic("events"), read_topic("alerts")
    ours = lambda r: str(r["deal_id"]).endswith(run)  # noqa: E731
    live_facts = wait_for(lambda: (found := _by_id([r for r in events.poll() if ours(r)], "event_id"))
                          and len(found) >= len(expected_facts) and found, what="all facts", worker=worker)
    expected_by_message = [a for a in expected_alerts.values() if a["caused_by"] is not None]
    live_alerts = wait_for(lambda: (found := _by_id([r for r in alerts.poll() if ours(r)], "alert_id"))
                           and len([a for a in found.values() if a["caused_by"]]) >= len(expected_by_message)
                           and found, what="all alerts", worker=worker)
    assert live_facts == expected_facts
    # The sample lies in the past: live, the worker's clock (now) is far past its messages, so
    # time-based alerts differ from a backtest that steps through event time; facts and the
    # alerts messages raise must be identical.
    by_message = {k: v for k, v in live_alerts.items() if v["caused_by"] is not None}
    assert by_message == {k: v for k, v in expected_alerts.items() if v["caused_by"] is not None}


def test_deal_state_survives_a_worker_restart(settings: Settings, worker: WorkerProcess, read_topic: Any) -> None:
    """Evidence recorded before a restart still counts after it (state comes back from the changelog)."""
    deal_id = f"restart-{uuid.uuid4().hex[:6]}"

    before = [create_message(1, deal_id=deal_id), *(evidence_message(c, 2, deal_id=deal_id) for c in DISCOVERY),
              next_step_message(3, deal_id=deal_id)]
    produce(settings.kafka_bootstrap, settings.topics, before)
    events = read_topic("events")
    wait_for(lambda: [f for f in events.poll() if f["deal_id"] == deal_id and f["type"] == "deal.updated"],
             what="facts before the restart", worker=worker)

    worker.stop()  # graceful stop of the session worker; a fresh one must rebuild state from the changelog
    replacement = WorkerProcess(settings, Path(worker.log_path.parent) / "after-restart.log")
    try:
        produce(settings.kafka_bootstrap, settings.topics,
                [change_message("qualification", 4, deal_id=deal_id)])
        advanced = wait_for(lambda: [f for f in events.poll() if f["deal_id"] == deal_id
                                     and f["type"] in ("stage.advanced", "command.rejected")],
                            what="the stage change after the restart", worker=replacement)
        assert advanced[0]["type"] == "stage.advanced", advanced[0]
        duplicates = [f for f in events.poll() if f["deal_id"] == deal_id and f["type"] == "deal.created"]
        assert len({f["event_id"] for f in duplicates}) == 1
    finally:
        worker.process, worker.log = replacement.process, replacement.log  # the session fixture stops it


def test_a_burst_keeps_each_deals_order_across_the_two_input_topics(
        settings: Settings, worker: WorkerProcess, read_topic: Any) -> None:
    """Commands and engagement produced all at once to an idle worker: every deal's create (commands)
    still comes before its stakeholder (engagement) of the same moment, as in the backtest."""
    run = f"-{uuid.uuid4().hex[:6]}"
    when = datetime.now(timezone.utc)
    messages: list[dict[str, Any]] = []
    for n in range(150):
        deal_id = f"burst{n}{run}"
        messages += [create_message(deal_id=deal_id, when=when, event_id=f"c-{deal_id}"),
                     {"event_id": f"s-{deal_id}", "type": "stakeholder.added", "deal_id": deal_id,
                      "occurred_at": when.isoformat(), "contact_id": "eb", "role": "economic_buyer"}]
    events_out = io.BytesIO()
    run_backtest([json.dumps(m) for m in messages], default_playbook(), io.BytesIO(), events_out,
                 errors=io.StringIO())
    expected = _by_id(load_json_lines(events_out.getvalue()), "event_id")
    assert any(f["type"] == "evidence.recorded" for f in expected.values())  # the stakeholder counts once created
    events = read_topic("events")
    ours = lambda r: str(r["deal_id"]).endswith(run)  # noqa: E731
    produce(settings.kafka_bootstrap, settings.topics, messages)  # all at once, no pacing
    live = wait_for(lambda: (found := _by_id([r for r in events.poll() if ours(r)], "event_id"))
                    and len(found) >= len(expected) and found, what="the burst's facts", worker=worker)
    assert live == expected
