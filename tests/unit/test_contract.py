"""The exported contract (JSON Schema + AsyncAPI): in sync with the models, and saying what we promise.

The drift check alone would accept whatever a pydantic version happens to render; the tests
below read the checked-in files and assert the constraints producers and consumers rely on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.alerts import Alert
from schemas.commands import COMMAND_MODELS
from schemas.deadletter import DeadLetter
from schemas.engagement import ENGAGEMENT_MODELS
from schemas.export import CONTRACT_DIR, check_contract
from schemas.facts import FACT_MODELS
from schemas.inbound import InvalidMessage, message_type, parse_inbound
from schemas.stays import StayCompleted

GROUPS: dict[str, tuple[type[BaseModel], ...]] = {
    "engagement": ENGAGEMENT_MODELS,
    "commands": COMMAND_MODELS,
    "facts": FACT_MODELS,
    "alerts": (Alert,),
    "deadletter": (DeadLetter,),
    "stays": (StayCompleted,),
}
ENVELOPE = {"event_id", "type", "deal_id", "occurred_at"}


def schema(group: str, name: str) -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / group / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


SINGLE_MESSAGE = {"alerts": "alert", "deadletter": "deadletter"}


def name_of(group: str, model: type[BaseModel]) -> str:
    return SINGLE_MESSAGE.get(group) or message_type(model)


def all_schemas() -> Iterator[tuple[str, type[BaseModel], dict[str, Any]]]:
    for group, models in GROUPS.items():
        for model in models:
            yield group, model, schema(group, name_of(group, model))


def branches(prop: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``anyOf`` alternatives of a property, by JSON type."""
    return {alt["type"]: alt for alt in prop["anyOf"]}


def deal_create(amount: object) -> dict[str, Any]:
    return {"event_id": "e1", "type": "deal.create", "deal_id": "d1", "occurred_at": "2026-01-05T09:00:00Z",
            "name": "Acme", "owner_id": "rep1", "amount": amount, "close_date": "2026-06-30"}


def accepted(amount: object) -> bool:
    try:
        parse_inbound(json.dumps(deal_create(amount)), "commands")
    except InvalidMessage:
        return False
    return True


def test_checked_in_contract_matches_the_models() -> None:
    assert check_contract() == [], "run `dealflow contract` and commit schemas/contract/"


def test_every_message_type_has_a_schema_and_nothing_else_does() -> None:
    for group, models in GROUPS.items():
        expected = {name_of(group, model) for model in models}
        on_disk = {path.stem for path in (CONTRACT_DIR / group).glob("*.json")}
        assert on_disk == expected, group
        for model in models:
            if group in SINGLE_MESSAGE:
                continue
            assert schema(group, message_type(model))["properties"]["type"]["const"] == message_type(model)


def test_asyncapi_names_every_topic_and_message() -> None:
    document = json.loads((CONTRACT_DIR / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"dealflow.engagement", "dealflow.commands", "dealflow.events", "dealflow.alerts",
                         "dealflow.deadletter", "dealflow.stays"}
    messages = document["components"]["messages"]
    names = {message["name"] for message in messages.values()}
    assert {"email.sent", "signal.observed", "deal.create", "deal.close", "stage.advanced",
            "command.rejected"} <= names
    payloads = {message["payload"]["$ref"] for message in messages.values()}
    files = {f"./{path.parent.name}/{path.name}" for path in CONTRACT_DIR.glob("*/*.json")}
    assert payloads == files  # every payload exists, every schema is carried by some topic


def test_inbound_schemas_require_the_envelope_fields() -> None:
    for group in ("engagement", "commands"):
        for model in GROUPS[group]:
            exported = schema(group, message_type(model))
            assert ENVELOPE <= set(exported["required"]), message_type(model)
            assert "source" not in exported["required"]
            for field in ("event_id", "deal_id"):
                assert exported["properties"][field] | {"title": ""} == {"maxLength": 256, "minLength": 1,
                                                                         "title": "", "type": "string"}
            assert exported["properties"]["occurred_at"]["format"] == "date-time"
    create = schema("commands", "deal.create")
    assert {"name", "owner_id", "amount", "close_date"} <= set(create["required"])
    assert set(schema("commands", "deal.update")["required"]) == ENVELOPE


def test_facts_carry_their_envelope() -> None:
    for model in FACT_MODELS:
        exported = schema("facts", message_type(model))
        assert {"event_id", "deal_id", "occurred_at", "caused_by"} <= set(exported["required"])
        assert exported["properties"]["type"]["const"] == message_type(model)


@pytest.mark.parametrize("name", ["deal.create", "deal.update"])
def test_command_amounts_state_their_constraints(name: str) -> None:
    amount = branches(schema("commands", name)["properties"]["amount"])
    assert set(amount) == ({"number", "string"} if name == "deal.create" else {"number", "string", "null"})
    assert amount["number"]["minimum"] == 0
    assert amount["number"]["exclusiveMaximum"] == 10**16  # 16 digits before the decimal point
    pattern = amount["string"]["pattern"]
    # JSON Schema patterns are unanchored searches: the pattern must anchor itself.
    for text in ("12.50", "0", "0.5", "1000", "9999999999999999.99"):
        assert re.search(pattern, text), text
    for text in ("1.234", "0.001", "-5", "-0.01", "10000000000000000", "12abc", "1e2", "", " 5", ".5", "5.",
                 "NaN", "Infinity", "1_000", "\u0663"):
        assert not re.search(pattern, text), text


def test_the_amount_pattern_promises_nothing_the_models_refuse() -> None:
    pattern = branches(schema("commands", "deal.create")["properties"]["amount"])["string"]["pattern"]
    for text in ("1.234", "0.001", "-5", "10000000000000000", "12abc", "", "NaN"):
        assert not accepted(text), text
        assert not re.search(pattern, text), text
    assert not accepted(10**16) and accepted(10**16 - 1) and not accepted(-1) and accepted(0)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_amount_string_the_pattern_allows_is_accepted(data: st.DataObject) -> None:
    pattern = branches(schema("commands", "deal.create")["properties"]["amount"])["string"]["pattern"]
    assert accepted(data.draw(st.from_regex(pattern, fullmatch=True)))


@pytest.mark.parametrize("name", ["deal.create", "deal.update"])
def test_currencies_are_three_capital_letters(name: str) -> None:
    currency = schema("commands", name)["properties"]["currency"]
    if name == "deal.create":
        assert currency["default"] == "USD"
        assert currency["pattern"] == "^[A-Z]{3}$"
    else:
        assert branches(currency)["string"]["pattern"] == "^[A-Z]{3}$"


def test_fact_amounts_are_json_numbers() -> None:
    assert schema("facts", "deal.created")["properties"]["amount"]["type"] == "number"


def nested_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model its fields can hold."""
    yield model
    pending = [field.annotation for field in model.model_fields.values()]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from nested_models(annotation)
        else:
            pending.extend(get_args(annotation))


def test_additional_properties_are_as_the_models_declare() -> None:
    """Unknown extra fields are ignored (the README's promise), so no schema may forbid them."""
    for group, model, exported in all_schemas():
        for held in nested_models(model):
            extra = held.model_config.get("extra")
            assert extra == "ignore", f"{held.__name__}: wire models ignore unknown fields"
            object_schema = exported if held is model else exported["$defs"][held.__name__]
            assert object_schema.get("additionalProperties", True) is not False, (group, held.__name__)
    text = "".join(path.read_text(encoding="utf-8") for path in CONTRACT_DIR.rglob("*.json"))
    assert '"additionalProperties": false' not in text
