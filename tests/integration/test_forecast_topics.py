"""``dealflow forecast`` reads the event-log and alert topics from the real broker and forecasts the same
as from the files those records came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.cli.main import main
from processors.config import Settings
from processors.kafka.clients import producer
from tests.integration.support import isolated

SIMULATION = ["simulate", "--deals", "60", "--days", "120", "--seed", "13", "--end", "2026-12-01T00:00:00+00:00"]


def test_the_topics_give_the_forecast_of_the_files(base_settings: Settings, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    stream, alerts, facts = tmp_path / "org.jsonl", tmp_path / "alerts.jsonl", tmp_path / "facts.jsonl"
    assert main([*SIMULATION, "--out", str(stream)]) == 0
    assert main(["backtest", str(stream), "--out", str(alerts), "--events-out", str(facts)]) == 0
    question = ["forecast", "--as-of", "2026-11-02", "--period-kind", "month", "--json"]
    capsys.readouterr()
    assert main([*question, "--events", str(facts), "--alerts", str(alerts)]) == 0
    from_files = json.loads(capsys.readouterr().out)
    with isolated(base_settings) as settings:
        kafka = producer(settings.kafka_bootstrap)
        for topic, path in ((settings.topics.events, facts), (settings.topics.alerts, alerts)):
            for line in path.read_text().splitlines():
                kafka.send(topic, key=json.loads(line)["deal_id"].encode(), value=line.encode())
        kafka.flush()
        kafka.close()
        monkeypatch.setenv("DEALFLOW_TOPIC_EVENTS", settings.topics.events)
        monkeypatch.setenv("DEALFLOW_TOPIC_ALERTS", settings.topics.alerts)
        assert main([*question, "--timeout", "3"]) == 0
    from_topics = json.loads(capsys.readouterr().out)
    assert from_files["deals"] and from_topics == from_files
