"""The live worker: a Faust app that runs the core per deal, with state in a Faust table.

Delivery: at-least-once with deterministic ids. A message's facts, alerts and dead letters
are delivered (awaited) before the agent moves on, so Faust commits its offset only after
its effects are on the topics; a crash before that replays it, and the replay yields the
same ids (and a message already in the deal's state yields nothing).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, timezone
from typing import Any

import faust

from processors.config import Settings
from processors.core import DealState
from processors.handling import Origin, handle_record
from processors.playbook_loader import load_playbook
from processors.scheduling import TimestampOrderedScheduling
from processors.serde import state_from_json, state_to_json, to_bytes
from schemas.inbound import InboundKind

log = logging.getLogger("dealflow.worker")


def _brokers(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app with its topics, the deal-state table and the processing agent."""
    playbook = load_playbook(settings.playbook)
    topics = settings.topics
    datadir = settings.state_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=_brokers(settings.kafka_bootstrap),
        store="memory://",
        topic_partitions=settings.partitions,
        web_enabled=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        datadir=str(datadir),
        ConsumerScheduler=TimestampOrderedScheduling,
    )
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    inbound = app.topic(topics.engagement, topics.commands, partitions=settings.partitions, **raw)
    events = app.topic(topics.events, **raw)
    alerts = app.topic(topics.alerts, **raw)
    deadletter = app.topic(topics.deadletter, **raw)
    table = app.Table("deal_state", default=None, partitions=settings.partitions, key_type=str, value_type=str)

    def load_state(deal_id: str) -> DealState:
        return state_from_json(deal_id, table.get(deal_id))

    @app.agent(inbound, name="deals")
    async def process_messages(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            kind: InboundKind = "engagement" if message.topic == topics.engagement else "commands"
            origin = Origin(message.topic, message.partition, message.offset)
            now = datetime.now(timezone.utc)
            outcome = handle_record(event.value, event.key, kind, origin, load_state, playbook, now)
            pending = []
            if outcome.dead_letter is not None:
                log.warning("dead-lettered %s/%s@%s: %s", origin.topic, origin.partition, origin.offset,
                            outcome.dead_letter.reason)
                pending.append(await deadletter.send(key=event.key, value=to_bytes(outcome.dead_letter)))
            for fact in outcome.decision.facts:
                pending.append(await events.send(key=fact.deal_id.encode(), value=to_bytes(fact)))
            for alert in outcome.decision.alerts:
                pending.append(await alerts.send(key=alert.deal_id.encode(), value=to_bytes(alert)))
            if pending:
                await asyncio.gather(*pending)
            if outcome.state is not None and outcome.decision.facts:
                table[outcome.state.deal_id] = state_to_json(outcome.state)

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the Faust worker in the foreground until interrupted."""
    app = create_app(settings)
    sys.argv = [sys.argv[0], "worker", "--without-web", "-l", loglevel]
    app.main()
