"""End to end on the real broker and PostgreSQL: deals flow, gates hold, bad input is dead-lettered."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from processors.config import Settings
from processors.kafka.clients import produce
from tests.builders import DISCOVERY, T0, change_message, create_message, evidence_message, next_step_message
from tests.integration.support import WorkerProcess, wait_for


def _row(settings: Settings, deal_id: str) -> dict[str, Any] | None:
    with psycopg.connect(settings.database_url) as conn:
        cur = conn.execute("SELECT * FROM deals WHERE deal_id = %s", (deal_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([c.name for c in cur.description or []], row, strict=True))


def test_deal_create_reaches_the_deals_table(settings: Settings, worker: WorkerProcess) -> None:
    deal_id = f"flow-{uuid.uuid4().hex[:6]}"
    created = create_message(deal_id=deal_id, owner_id="rep-1", amount=2500, close_date="2026-05-31")
    produce(settings.kafka_bootstrap, settings.topics, [created])
    row = wait_for(lambda: _row(settings, deal_id), what=f"deals row {deal_id}", worker=worker)
    assert row["stage"] == "discovery" and row["status"] == "open"
    assert row["owner_id"] == "rep-1" and float(row["amount"]) == 2500.0
    assert row["stage_entered_at"] == T0 and row["close_date"].isoformat() == "2026-05-31"
    assert row["missing_criteria"] == DISCOVERY


def test_bad_input_is_dead_lettered_and_processing_goes_on(settings: Settings, worker: WorkerProcess,
                                                            read_topic: Any) -> None:
    deal_id = f"dl-{uuid.uuid4().hex[:6]}"
    broken = '{"event_id": "x", "type": "deal.create"'
    invalid = create_message(deal_id=f"{deal_id}-neg", amount=-10)
    produce(settings.kafka_bootstrap, settings.topics, [broken, invalid, create_message(deal_id=deal_id)])
    wait_for(lambda: _row(settings, deal_id), what="the valid deal after the bad ones", worker=worker)
    letters = read_topic("deadletter")

    def both_letters() -> list[dict[str, Any]]:
        found = [r for r in letters.poll() if r["original_text"] in (broken, json.dumps(invalid))]
        return found if len(found) == 2 else []

    found = wait_for(both_letters, what="two dead letters", worker=worker)
    by_text = {letter["original_text"]: letter for letter in found}
    assert "malformed JSON" in by_text[broken]["reason"]
    assert by_text[json.dumps(invalid)]["field"] == "amount"
    assert "greater than or equal to 0" in by_text[json.dumps(invalid)]["reason"]
    for letter in found:
        assert letter["source_topic"] == settings.topics.commands
        assert letter["source_partition"] is not None and letter["source_offset"] is not None
    assert _row(settings, f"{deal_id}-neg") is None


def test_gates_refuse_and_accept_on_the_live_topics(settings: Settings, worker: WorkerProcess,
                                                     read_topic: Any) -> None:
    deal_id = f"gate-{uuid.uuid4().hex[:6]}"
    refused = change_message("qualification", 1, deal_id=deal_id)
    evidence = [evidence_message(c, 2, deal_id=deal_id) for c in DISCOVERY]
    step = next_step_message(2, deal_id=deal_id)
    accepted = change_message("qualification", 3, deal_id=deal_id)
    messages = [create_message(deal_id=deal_id), refused, *evidence, step, accepted]
    produce(settings.kafka_bootstrap, settings.topics, messages)

    events, alerts = read_topic("events"), read_topic("alerts")
    advanced = wait_for(lambda: [f for f in events.poll() if f["deal_id"] == deal_id
                                 and f["type"] == "stage.advanced"], what="stage.advanced", worker=worker)
    facts = [f for f in events.poll() if f["deal_id"] == deal_id]
    [rejection] = [f for f in facts if f["type"] == "command.rejected"]
    assert rejection["caused_by"] == refused["event_id"] and rejection["reason"] == "exit_criteria_unmet"
    assert rejection["missing_criteria"] == DISCOVERY
    assert advanced[0]["caused_by"] == accepted["event_id"] and advanced[0]["days_in_from_stage"] == 3.0
    gate = wait_for(lambda: [a for a in alerts.poll() if a["deal_id"] == deal_id and a["type"] == "gate.rejected"],
                    what="gate.rejected alert", worker=worker)
    assert gate[0]["severity"] == "warning" and gate[0]["caused_by"] == refused["event_id"]
    row = wait_for(lambda: (r := _row(settings, deal_id)) and r["stage"] == "qualification" and r,
                   what="projection in qualification", worker=worker)
    assert row["next_step_description"] == "Confirm the economic buyer and the evaluation criteria"
    with psycopg.connect(settings.database_url) as conn:
        kinds = conn.execute("SELECT kind, from_stage, to_stage FROM stage_history WHERE deal_id = %s",
                             (deal_id,)).fetchall()
        rejected = conn.execute("SELECT reason, missing_criteria FROM gate_rejections WHERE deal_id = %s",
                                (deal_id,)).fetchall()
    assert kinds == [("advance", "discovery", "qualification")]
    assert rejected == [("exit_criteria_unmet", DISCOVERY)]
