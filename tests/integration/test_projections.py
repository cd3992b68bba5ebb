"""Projections on the real broker and PostgreSQL: every table, rebuild, backtest projection, crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from processors.config import Settings
from processors.kafka.clients import produce
from processors.playbooks.loader import default_playbook
from processors.tools.sample import sample_stream
from projections.direct import DirectProjection
from tests.builders import PROPOSAL, message
from tests.integration.support import (
    REPO_ROOT,
    SAMPLE_END,
    WorkerProcess,
    await_progress,
    fresh_database,
    isolated,
    sample_backtest_outputs,
    settings_env,
    snapshot,
    wait_for,
)

END = SAMPLE_END
# Sample runs projected by the log tests: 60 (about 1,700 messages) in the suite; the full form
# of the fault tests (DEALFLOW_FAULT_MESSAGES=100000, see the README's Guarantees) scales them up.
LOG_RUNS = max(60, int(os.environ.get("DEALFLOW_FAULT_MESSAGES", "0")) // len(sample_stream(END, "")))


def _rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_table_is_projected_from_the_live_pipeline(settings: Settings, worker: WorkerProcess) -> None:
    run = f"-{uuid.uuid4().hex[:6]}"
    slip = message("deal.update", deal_id=f"globex{run}", event_id=f"slip{run}", when=END - timedelta(hours=12),
                   close_date="2026-08-31")
    produce(settings.kafka_bootstrap, settings.topics, [*sample_stream(END, run), slip], delay=0.02)
    url = settings.database_url
    wait_for(lambda: _rows(url, "SELECT 1 FROM close_date_changes WHERE deal_id = %s", f"globex{run}"),
             what="the whole sample projected", worker=worker)
    wait_for(lambda: _rows(url, "SELECT 1 FROM deals WHERE deal_id = %s AND status = 'won'", f"hooli{run}"),
             what="hooli won", worker=worker)

    [acme] = _rows(url, """SELECT stage, status, next_step_description, last_buyer_response_at IS NOT NULL,
                                  satisfied_criteria, missing_criteria FROM deals WHERE deal_id = %s""", f"acme{run}")
    assert acme == ("proposal", "open", "Walk through the proposal with the decision maker", True, [], PROPOSAL)
    history = _rows(url, """SELECT deal_id, kind, from_stage, to_stage, reason FROM stage_history
                            WHERE deal_id LIKE %s ORDER BY changed_at""", f"%{run}")
    assert [(d.removesuffix(run), k, f, t, r) for d, k, f, t, r in history] == [
        ("acme", "advance", "discovery", "qualification", None),
        ("initech", "regress", "negotiation", "qualification", "decision_maker_pushback"),
        ("acme", "advance", "qualification", "proposal", None),
        ("umbrella", "disqualify", "discovery", "disqualified", "chose_competitor"),
        ("hooli", "won", "closing", "won", None),
    ]
    evidence = _rows(url, "SELECT criterion, valid FROM evidence WHERE deal_id = %s ORDER BY recorded_at, criterion",
                     f"acme{run}")
    assert len(evidence) == 8 and all(valid for _, valid in evidence)
    rejections = _rows(url, "SELECT deal_id, reason FROM gate_rejections WHERE deal_id LIKE %s ORDER BY rejected_at",
                       f"%{run}")
    assert [(d.removesuffix(run), r) for d, r in rejections] == [
        ("acme", "exit_criteria_unmet"), ("globex", "exit_criteria_unmet"), ("initech", "reason_required"),
        ("hooli", "exit_criteria_unmet")]
    alert_types = {t for (t,) in _rows(url, "SELECT type FROM alerts WHERE deal_id LIKE %s", f"%{run}")}
    expected_types = {"gate.rejected", "deal.late_stage_entered", "stakeholders.review_requested", "fields.missing"}
    assert expected_types <= alert_types
    resolved = _rows(url, "SELECT count(*) FROM alerts WHERE deal_id = %s AND status = 'resolved'", f"hooli{run}")
    assert resolved[0][0] >= 1  # closing won resolves its open condition alerts
    engagement = _rows(url, "SELECT type, buyer_response FROM engagement WHERE deal_id = %s ORDER BY occurred_at",
                       f"acme{run}")
    assert engagement == [("stakeholder.added", False), ("meeting.held", True), ("email.replied", True)]
    entries = _rows(url, "SELECT stage, via FROM stage_entries WHERE deal_id = %s ORDER BY entered_at", f"acme{run}")
    assert entries == [("discovery", "created"), ("qualification", "advance"), ("proposal", "advance")]
    [change] = _rows(url, "SELECT old_date::text, new_date::text FROM close_date_changes WHERE deal_id = %s",
                     f"globex{run}")
    assert change[1] == "2026-08-31" and change[0] != change[1]


def _publish(settings: Settings, outputs: list[tuple[str, dict[str, Any]]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20)
    for kind, payload in outputs:
        topic = settings.topics.alerts if kind == "alert" else settings.topics.events
        producer.send(topic, key=payload["deal_id"].encode(), value=json.dumps(payload).encode())
    producer.flush()
    producer.close()


def _caught_up(url: str, total: int) -> bool:
    rows = _rows(url, "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE consumer = 'projector'")
    return int(rows[0][0]) >= total


@pytest.fixture(scope="module")
def log_settings(base_settings: Settings) -> Iterator[tuple[Settings, int, dict[str, Any]]]:
    """Fresh topics holding a pre-computed log (facts and alerts of LOG_RUNS sample runs) and its clean projection."""
    outputs = sample_backtest_outputs(LOG_RUNS, END)
    with isolated(base_settings) as settings:
        _publish(settings, outputs)
        with fresh_database(base_settings) as clean_url:
            direct = DirectProjection(clean_url, default_playbook())
            for kind, payload in outputs:
                direct.add(kind, payload)
            direct.close()
            yield settings, len(outputs), snapshot(clean_url)


def _rebuild(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processors.cli", "rebuild"], cwd=REPO_ROOT,
                          env=settings_env(settings), capture_output=True, text=True, timeout=300 * LOG_RUNS // 60,
                          check=True)


def test_rebuild_equals_the_incremental_projection_and_the_backtest_projection(
        log_settings: tuple[Settings, int, dict[str, Any]], tmp_path: Path) -> None:
    settings, total, clean = log_settings
    projector = WorkerProcess(settings, tmp_path / "projector.log", "--only", "projector")
    try:
        wait_for(lambda: _caught_up(settings.database_url, total), timeout=90.0 * LOG_RUNS / 60,
                 what="the projector to catch up",
                 worker=projector)
        incremental = snapshot(settings.database_url)
    finally:
        projector.stop()
    assert incremental == clean  # Kafka projection == `dealflow backtest --database-url` projection
    result = _rebuild(settings)
    assert "rebuilding the projections from offset 0" in result.stdout and f"{total:,}/{total:,}" in result.stdout
    assert snapshot(settings.database_url) == incremental


def test_projector_killed_mid_stream_loses_and_duplicates_nothing(
        log_settings: tuple[Settings, int, dict[str, Any]], tmp_path: Path) -> None:
    """Ten SIGKILLs at random moments of the stream, then a clean finish: the same tables."""
    settings, total, clean = log_settings
    rng = random.Random(11)
    with fresh_database(settings) as url:
        crash_settings = type(settings)(**{**settings.__dict__, "database_url": url})
        env_batch = {"DEALFLOW_PROJECTOR_BATCH": "5"}
        watch = psycopg.connect(url, autocommit=True)
        projected = lambda: watch.execute(  # noqa: E731
            "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()[0]  # type: ignore[index]
        kills = 0
        while kills < 10 and not _caught_up(url, total):
            projector = WorkerProcess(crash_settings, tmp_path / f"crash-{kills}.log", "--only", "projector",
                                      extra_env=env_batch)
            before = projected()
            await_progress(projector, lambda start=before: projected() > start or _caught_up(url, total))
            time.sleep(rng.uniform(0.0, 0.05))
            projector.stop(signal.SIGKILL)
            kills += 1
        watch.close()
        projector = WorkerProcess(crash_settings, tmp_path / "crash-final.log", "--only", "projector")
        wait_for(lambda: _caught_up(url, total), timeout=90.0 * LOG_RUNS / 60, what="catching up after the kills",
                 worker=projector)
        projector.stop()
        assert kills == 10, "the projector finished before it could be killed ten times"
        time.sleep(0.5)
        assert snapshot(url) == clean
