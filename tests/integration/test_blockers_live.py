"""Issue 17 end to end on the real broker and database: a blocker recorded, overdue, resolved;
an intervention; the alert, the rows and the views as the README documents them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from processors.config import Settings
from processors.kafka.clients import produce
from tests.builders import create_message, message
from tests.integration.support import TopicReader, WorkerProcess, isolated, query_rows, wait_for


@pytest.fixture()
def live(base_settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    with isolated(base_settings, tick_seconds=1.0) as settings:
        worker = WorkerProcess(settings, tmp_path / "worker.log")  # processors and projector
        try:
            yield settings, worker
        finally:
            worker.stop()


def _command(type_: str, deal_id: str, **fields: Any) -> dict[str, Any]:
    return message(type_, deal_id=deal_id, event_id=f"{type_}-{uuid.uuid4().hex[:8]}",
                   when=datetime.now(timezone.utc), **fields)


def test_a_blocker_goes_overdue_is_resolved_and_the_views_follow(live: tuple[Settings, WorkerProcess]) -> None:
    settings, worker = live
    alerts = TopicReader(settings.kafka_bootstrap, settings.topics.alerts)
    deal_id, blocker_id = f"blk-{uuid.uuid4().hex[:6]}", f"cfo-{uuid.uuid4().hex[:4]}"
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    produce(settings.kafka_bootstrap, settings.topics, [
        create_message(deal_id=deal_id, owner_id="rep-ana", when=datetime.now(timezone.utc), close_date="2027-12-31"),
        _command("blocker.record", deal_id, blocker_id=blocker_id, code="stakeholder_access",
                 stall_point="economic_buyer_unknown", description="The CFO will not take our calls",
                 identified_by="mgr-eve", resolution={"owner": "rep-ana", "action": "Ask the champion for an intro",
                                                      "due_date": yesterday.isoformat()}),
        _command("intervention.record", deal_id, kind="executive_introduction", recorded_by="mgr-eve",
                 note="VP to VP call")])
    try:
        def overdue() -> list[dict[str, Any]]:
            return [a for a in alerts.poll() if a["deal_id"] == deal_id and a["type"] == "blocker.overdue"]

        [raised] = wait_for(overdue, timeout=60, what="blocker.overdue", worker=worker)
        assert (raised["kind"], raised["status"], raised["details"]["blocker_id"]) == ("condition", "raised",
                                                                                      blocker_id)
        assert raised["raised_at"] == f"{yesterday + timedelta(days=1)}T00:00:00Z"  # the end of its due date
        assert raised["coaching"]["next_best_action"] and raised["coaching"]["questions"]
        wait_for(lambda: query_rows(settings.database_url, "SELECT status FROM blockers WHERE blocker_id = %s",
                                blocker_id) == [("open",)], timeout=60, what="the open blocker's row", worker=worker)
        by_code = dict((code, overdue_count) for code, overdue_count in query_rows(
            settings.database_url, "SELECT code, overdue FROM blockers_by_code"))
        assert by_code == {"stakeholder_access": 1}

        produce(settings.kafka_bootstrap, settings.topics,
                [_command("blocker.resolve", deal_id, blocker_id=blocker_id, outcome="resolved",
                          resolved_by="rep-ana", note="Met the CFO")])
        wait_for(lambda: [a for a in overdue() if a["status"] == "resolved"], timeout=60,
                 what="the overdue alert's resolution", worker=worker)
        wait_for(lambda: query_rows(settings.database_url, "SELECT status, outcome FROM blockers WHERE blocker_id = %s",
                                blocker_id) == [("resolved", "resolved")], timeout=60, what="the resolved row",
                 worker=worker)
        wait_for(lambda: query_rows(settings.database_url, "SELECT status FROM alerts WHERE alert_id = %s",
                                raised["alert_id"]) == [("resolved",)], timeout=60, what="the alert row",
                 worker=worker)
        times = query_rows(settings.database_url,
                       "SELECT code, resolved FROM blocker_resolution_time WHERE code IS NOT NULL")
        assert times == [("stakeholder_access", 1)]
        assert query_rows(settings.database_url, "SELECT kind, recorded_by FROM interventions WHERE deal_id = %s",
                      deal_id) == [("executive_introduction", "mgr-eve")]
    finally:
        alerts.close()
