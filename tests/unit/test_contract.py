"""The exported contract (JSON Schema + AsyncAPI) is in sync with the models."""

from __future__ import annotations

import json

from schemas.export import CONTRACT_DIR, check_contract


def test_checked_in_contract_matches_the_models() -> None:
    assert check_contract() == [], "run `dealflow contract` and commit schemas/contract/"


def test_asyncapi_names_every_topic_and_message() -> None:
    document = json.loads((CONTRACT_DIR / "asyncapi.json").read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"dealflow.engagement", "dealflow.commands", "dealflow.events", "dealflow.alerts",
                         "dealflow.deadletter"}
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert {"email.sent", "signal.observed", "deal.create", "deal.close", "stage.advanced",
            "command.rejected"} <= names


def test_schemas_require_the_envelope_fields() -> None:
    schema = json.loads((CONTRACT_DIR / "commands" / "deal.create.json").read_text())
    assert {"event_id", "type", "deal_id", "occurred_at", "name", "owner_id", "amount", "close_date"} <= set(
        schema["required"])
