"""Exporting the wire contract: a JSON Schema per message type and an AsyncAPI document.

``dealflow contract`` regenerates ``schemas/contract/``; a test fails when the checked-in
files drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.alerts import Alert
from schemas.commands import COMMAND_MODELS
from schemas.deadletter import DeadLetter
from schemas.engagement import ENGAGEMENT_MODELS
from schemas.facts import FACT_MODELS
from schemas.inbound import message_type
from schemas.stays import StayCompleted

CONTRACT_DIR = Path(__file__).parent / "contract"

TOPICS = {
    "dealflow.engagement": ("engagement", "Buyer and rep activity from engagement platforms (in)."),
    "dealflow.commands": ("commands", "Deal commands from the CRM and reps (in)."),
    "dealflow.events": ("facts", "The deal event log: accepted facts, source of truth for projections (out)."),
    "dealflow.alerts": ("alerts", "Alerts for downstream systems (out)."),
    "dealflow.deadletter": ("deadletter", "Inbound messages that could not be processed, with the reason (out)."),
    "dealflow.stays": ("stays", "Completed stays in stages whose benchmark is learned, published and read whole "
                                "by every worker (compacted; the record timestamp says when the stay was recorded)."),
}
KEYS = {"dealflow.stays": "the event_id of the stage change that completed the stay"}
"""The Kafka key of the topics not keyed by ``deal_id``."""


def message_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """JSON Schemas by group (``engagement``, ``commands``, ``facts``, ``alerts``, ``deadletter``, ``stays``)."""
    groups: dict[str, dict[str, dict[str, Any]]] = {
        "engagement": {message_type(m): m.model_json_schema() for m in ENGAGEMENT_MODELS},
        "commands": {message_type(m): m.model_json_schema() for m in COMMAND_MODELS},
        "facts": {message_type(m): m.model_json_schema(mode="serialization") for m in FACT_MODELS},
        "alerts": {"alert": Alert.model_json_schema(mode="serialization")},
        "deadletter": {"deadletter": DeadLetter.model_json_schema(mode="serialization")},
        "stays": {message_type(StayCompleted): StayCompleted.model_json_schema(mode="serialization")},
    }
    return groups


def asyncapi_document(schemas: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """An AsyncAPI 3.0 document naming every topic and the messages it carries."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, (group, description) in TOPICS.items():
        refs = {}
        for name in schemas[group]:
            message_id = f"{group}.{name}".replace(".", "_")
            messages[message_id] = {
                "name": name,
                "contentType": "application/json",
                "payload": {"$ref": f"./{group}/{name}.json"},
            }
            refs[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channel_id = topic.replace(".", "_")
        key = KEYS.get(topic, "deal_id")
        channels[channel_id] = {"address": topic, "description": f"{description} Kafka key: {key}.", "messages": refs}
        action = "send" if group in ("engagement", "commands") else "receive"
        operations[f"{action}_{channel_id}"] = {"action": action, "channel": {"$ref": f"#/channels/{channel_id}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Dealflow wire contract", "version": "1",
                 "description": "UTF-8 JSON messages on Kafka, keyed by deal_id (dealflow.stays: by event_id)."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered_contract() -> dict[Path, str]:
    """Every contract file and its text, as it should be on disk."""
    schemas = message_schemas()
    files = {
        CONTRACT_DIR / group / f"{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for group, by_name in schemas.items()
        for name, schema in by_name.items()
    }
    files[CONTRACT_DIR / "asyncapi.json"] = json.dumps(asyncapi_document(schemas), indent=2, sort_keys=True) + "\n"
    return files


def write_contract() -> list[Path]:
    """Regenerate the contract files."""
    written = []
    for path, text in rendered_contract().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_contract() -> list[str]:
    """Differences between the checked-in contract and the models (empty when in sync)."""
    expected = rendered_contract()
    drift = [f"{path}: out of date (run `dealflow contract`)" for path, text in expected.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    stale = {p for p in CONTRACT_DIR.rglob("*.json")} - set(expected)
    drift += [f"{path}: no longer part of the contract (delete it)" for path in sorted(stale)]
    return drift
