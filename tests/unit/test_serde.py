"""Stored deal states load back equal, with UTC moments on the shared ``timezone.utc``."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from processors.core import DealState
from processors.handling.serde import (
    STATE_FORMAT,
    STORED_FIELDS,
    state_from_json,
    state_to_bytes,
    state_to_json,
    to_bytes,
)
from processors.playbooks.loader import default_playbook
from processors.replay.backtest import Backtest, event_time_order, read_messages
from processors.tools.simulate import SimulationSettings, simulate
from schemas.alerts import Alert
from schemas.base import json_values
from tests.builders import Deal, create, msg, next_step


def _stored_deal() -> Deal:
    deal = Deal()
    deal.send(create(), next_step(1), msg("email.sent", 2, contact_id="c1"),
              msg("meeting.held", 3, duration_minutes=30, attendees=[{"contact_id": "c1", "role": "economic_buyer"}]))
    deal.tick(40)
    return deal


def test_a_stored_state_loads_back_equal_and_stores_the_same() -> None:
    state = _stored_deal().state
    loaded = state_from_json("d1", state_to_json(state))
    assert loaded == state
    assert state_to_json(loaded) == state_to_json(state)


def test_utc_moments_load_with_the_shared_utc_and_other_offsets_stay() -> None:
    state = _stored_deal().state
    loaded = state_from_json("d1", state_to_json(state))
    moments = [loaded.stage_entered_at, loaded.last_activity_at, loaded.evaluated_at,
               *loaded.stage_first_entered.values(), *(e.at for e in loaded.buyer_engagements),
               *(e.recorded_at for e in loaded.evidence)]
    assert moments and all(m is not None and m.tzinfo is timezone.utc for m in moments)
    plus_two = timezone(timedelta(hours=2))
    raw = state_to_json(state.updated({"created_at": datetime(2026, 1, 5, 11, tzinfo=plus_two)}))
    assert state_from_json("d1", raw).created_at.utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]


def test_no_stored_state_is_a_fresh_one() -> None:
    assert state_from_json("d9", None).deal_id == "d9"


@given(st.text(), st.text())
def test_to_bytes_is_the_models_json_in_utf8(deal_id: str, note: str) -> None:
    alert = Alert(alert_id="a1", type="deal.inactive", deal_id=deal_id, severity="warning", status="raised",
                  raised_at=datetime(2026, 1, 5, tzinfo=timezone.utc), stage=None, owner_id=None, caused_by=None,
                  details={"note": note})
    assert to_bytes(alert) == alert.model_dump_json().encode("utf-8")


def test_a_state_stored_as_a_json_object_by_earlier_versions_loads_equal() -> None:
    state = _stored_deal().state
    old_format = state.record().model_dump_json()  # format 1: one JSON object with every field by name
    loaded = state_from_json("d1", old_format)
    assert loaded == state
    assert state_to_json(loaded) == state_to_json(state)
    assert state_to_json(state).startswith("[2,") and len(state_to_json(state)) < len(old_format)


def test_records_stored_before_a_field_was_appended_load_with_its_default() -> None:
    state = _stored_deal().state
    assert state.open_alerts and state.evidence and state.buyer_engagements
    row = json.loads(state_to_json(state))
    evidence, engagements, open_alerts = (STORED_FIELDS.index(name) + 1
                                          for name in ("evidence", "buyer_engagements", "open_alerts"))
    row[evidence] = [entry[:-1] for entry in row[evidence]]  # as if ``valid`` came later
    row[engagements] = [engagement[:-1] for engagement in row[engagements]]  # ``contacts``
    before_kind = list(Alert.model_fields).index("kind")  # alerts stored before kind, team, ... were appended
    row[open_alerts] = {key: [alert[:before_kind], identity] for key, (alert, identity) in row[open_alerts].items()}
    del row[STORED_FIELDS.index("last_substantive_at") + 1:]  # a state stored before the fields of issue 16
    loaded = state_from_json("d1", json.dumps(row))
    assert [e.valid for e in loaded.evidence] == [True] * len(state.evidence)
    assert all(e.contacts == [] for e in loaded.buyer_engagements)
    assert all((entry.alert.kind, entry.alert.team, entry.alert.notify) == ("condition", None, True)
               for entry in loaded.open_alerts.values())
    assert loaded.open_alerts.keys() == state.open_alerts.keys()
    assert (loaded.last_substantive_at, loaded.stakeholders, loaded.momentum_reported) == (None, [], {})


def test_the_stored_json_is_compact_utf8_and_loads_back_equal() -> None:
    state = _stored_deal().state.updated({"name": "Zürich – 東京 \"deal\"", "response_times": [0.1, 3600.0, 1e-07]})
    stored = state_to_bytes(state)
    assert "Zürich – 東京".encode() in stored and b'\\"deal\\"' in stored
    row = json.loads(stored)
    assert row[STORED_FIELDS.index("response_times") + 1] == [0.1, 3600.0, 1e-07]
    assert len(stored) <= len(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
    assert state_to_json(state) == stored.decode()
    assert state_from_json("d1", stored) == state


def _as_deal_record_json(state: DealState) -> bytes:
    """The stored row built the slow, obvious way: ``DealRecord``'s JSON values, records as arrays."""
    data = json_values(state.record())
    row: list[Any] = [STATE_FORMAT]
    for name in STORED_FIELDS:
        value = data[name]
        if name in ("evidence", "buyer_engagements"):
            value = [list(record.values()) for record in value]
        elif name == "open_alerts":
            value = {key: [list(entry["alert"].values()), entry["identity"]] for key, entry in value.items()}
        row.append(value)
    return to_json(row)


def test_every_state_of_a_replay_stores_as_its_records_json() -> None:
    """``state_to_bytes`` reads the state's values directly; the record's serializer is the reference."""
    end = datetime(2026, 12, 1, tzinfo=timezone.utc)
    settings = SimulationSettings(deals=40, days=60, seed=5, end=end)
    lines = [json.dumps(m) for m in simulate(settings, default_playbook(), end)]
    messages, _ = read_messages(lines, io.StringIO())
    replay = Backtest(default_playbook())
    stored = []
    for message in event_time_order(messages):
        replay.feed(message)
        stored.append(replay.states[message.deal_id])
    assert any(s.open_alerts for s in stored) and any(s.longest_meeting_minutes == int(s.longest_meeting_minutes)
                                                      for s in stored)
    assert all(state_to_bytes(state) == _as_deal_record_json(state) for state in stored)
