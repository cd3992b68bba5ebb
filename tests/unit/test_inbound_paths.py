"""The fast parse accepts exactly what the checked parse accepts, with the same values."""

from __future__ import annotations

import json
from datetime import timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.inbound import InboundKind, InvalidMessage, checked_parse, fast_parse, parse_inbound

CALL = ('{"event_id":"e1","type":"call.logged","deal_id":"d1","occurred_at":"2026-08-03T00:32:18.952830+00:00",'
        '"contact_id":"c","direction":"outbound","connected":true,"duration_minutes":%s%s}')
OK = CALL % ("1", "")
ENVELOPE = '"event_id":"e","deal_id":"d","occurred_at":"2026-08-03T00:00:00Z"'


def _enveloped(fields: str) -> str:
    return "{" + ENVELOPE + "," + fields + "}"


CREATE = '{%s,"type":"deal.create","name":"n","owner_id":"o","amount":%s,"close_date":"2026-10-06"}'

TRICKY = [
    OK, CALL % ("1", ',"x":NaN'), CALL % ("NaN", ""), CALL % ("Infinity", ""), CALL % ("1", ',"x":-Infinity'),
    CALL % ("1", ',"x":nan'), CALL % ("1", ',"x":inf'), CALL % ("1", ',"note":"NaN and Infinity"'),
    CALL % ("1e400", ""), CALL % ("-1e400", ""), CALL % ("1", ',"x":1e400'), CALL % ("1e-400", ""),
    CALL % ("1", ',"x":' + "9" * 4300), CALL % ("1", ',"x":' + "9" * 4301), CALL % ("1", ',"x":' + "9" * 100),
    CALL % ("9" * 4300, ""),
    CALL % ("0.1000000000000000055511151231257827021181583404541015625", ""), CALL % ("1e1", ""),
    CALL % ("-0.0", ""), CALL % ("-0", ""), CALL % ("1E2", ""), CALL % ('"7.5"', ""), CALL % ("7", ""),
    CALL % ("01", ""), CALL % ("+1", ""), CALL % ("1.", ""), CALL % (".5", ""),
    CALL % ("1", ',"duration_minutes":2'), CALL % ("1", ',"type":"email.sent"'),
    CALL % ("1", ',"occurred_at":"1900-01-01T00:00:00Z"'),
    OK.replace('"direction":"outbound"', '"direction":"sideways","direction":"outbound"'),
    OK.replace('"direction":"outbound"', '"direction":"outbound","direction":"sideways"'),
    OK.replace('"c"', '"\\ud800"'), CALL % ("1", ',"x":"\\ud800"'), OK.replace('"c"', '"\\udc00\\ud800"'),
    OK.replace('"c"', '"\\ud83d\\ude00"'), OK.replace('"c"', '"\\u00e9\u00e9\U0001F600"'),
    OK.replace('"c"', '"\\u00E9"'), OK.replace('"c"', '"\\u0000"'), OK.replace('"c"', '"a\\/b"'),
    OK.replace('"c"', '"\\x41"'), OK.replace('"c"', '"a\tb"'), CALL % ("1", ',"x":"a\tb"'),
    OK.replace('"c"', '"a\x7fb"'), OK.replace('"c"', "'c'"), OK.replace('"contact_id"', '"contact\\u005fid"'),
    "\ufeff" + OK, "\x0c" + OK, OK + "\x0b", OK + "\u00a0", "\r\n  " + OK + " \n", OK + " x", OK + OK,
    CALL % ("1", ',"x":True'), CALL % ("1", ',"x":1,'), CALL % ("1", ',"x":[1,]'), CALL % ("1", ',"x":1 /*c*/'),
    CALL % ("1", ',"x":' + "[" * 200 + "]" * 200), CALL % ("1", ',"x":' + "[" * 5000 + "]" * 5000),
    "", "   ", "null", "[" + OK + "]", "{}", '{"type":"nope"}', OK.replace('"type":"call.logged"', '"type":5'),
    OK.replace('true', '"true"'), OK.replace('true', '1'), OK.replace('true', '2'),
    OK.replace("+00:00", "+05:30"), OK.replace("+00:00", "Z"), OK.replace("+00:00", "z"),
    OK.replace("+00:00", "-00:00"), OK.replace("+00:00", "+14:00"), OK.replace("+00:00", "+05:30:15"),
    OK.replace("+00:00", ""), OK.replace(".952830", ".952830123"), OK.replace("2026-08-03T00", "2026-08-03 00"),
    OK.replace("2026-08-03", "1969-12-31"), OK.replace("2026-08-03", "2200-01-01"),
    OK.replace('"2026-08-03T00:32:18.952830+00:00"', '"2026-08-03"'),
    OK.replace('"2026-08-03T00:32:18.952830+00:00"', "1785000000"),
    OK.replace('"2026-08-03T00:32:18.952830+00:00"', "1785000000.5"),
    OK.replace('"2026-08-03T00:32:18.952830+00:00"', '"1785000000"'),
    _enveloped('"type":"meeting.held","duration_minutes":30,"attendees":[{"contact_id":"a","role":"champion"},'
               '{"contact_id":"b"}]'),
    _enveloped('"type":"meeting.held","duration_minutes":30,"attendees":[{"contact_id":"a","x":NaN}]'),
    _enveloped('"type":"meeting.scheduled","scheduled_for":"2026-08-05T10:00:00+02:00","initiated_by":"buyer",'
               '"contact_ids":["a","b"]'),
    _enveloped('"type":"alert.snooze","alert_id":"a","until":"2026-08-05T10:00:00+02:00","snoozed_by":"x"'),
    _enveloped('"type":"blocker.record","blocker_id":"b","code":"c","description":"d","identified_by":"i",'
               '"resolution":{"owner":"o","action":"a","due_date":"2026-09-01"}'),
    _enveloped('"type":"evidence.record","criterion":"c","evidence":{"kind":"email","reference":"r"},'
               '"recorded_by":"x"'),
    _enveloped('"type":"deal.update","amount":1e2,"next_step":{"description":"d","due_date":"2026-09-01"}'),
    *(CREATE % (ENVELOPE, amount) for amount in
      ("1e2", "12.50", "58900.0", "58900", '"12.50"', "0.10", "1234567890123456.12", "-1", "1e400")),
]
RAW_BYTES = [
    b'{"event_id":"e","type":"email.sent","deal_id":"d","occurred_at":"2026-08-03T00:00:00Z","contact_id":"c"'
    + extra + b"}"
    for extra in (b"", b',"x":"\xff"', b',"x":"\xc0\xaf"', b',"x":"\xed\xa0\x80"', b',"x":"\xe2\x82"', b',"x":1\xff',
                  b',"x":"\xef\xbf\xbf"', b',"x":"\xf4\x8f\xbf\xbf"', b',"x":"\xf4\x90\x80\x80"', b"\xef\xbb\xbf")
] + [b"\xef\xbb\xbf" + OK.encode(), OK.encode("utf-16"), b"\x00", b"\xff" * 3]
KINDS: list[InboundKind | None] = [None, "engagement", "commands"]


def _checked(raw: bytes | str, kind: InboundKind | None) -> object:
    try:
        message = checked_parse(raw, kind)
    except InvalidMessage as exc:
        return ("refused", exc.code, exc.reason, exc.field)
    return _value(message)


def _value(message: object) -> object:
    return type(message), repr(message), message.occurred_at.tzinfo is timezone.utc  # type: ignore[attr-defined]


def _assert_same(raw: bytes | str, kind: InboundKind | None) -> None:
    fast = fast_parse(raw, kind)
    if fast is not None:
        assert _value(fast) == _checked(raw, kind)


@pytest.mark.parametrize("raw", TRICKY + [text.encode("utf-8", "surrogatepass") for text in TRICKY] + RAW_BYTES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_fast_parse_takes_only_what_the_checked_parse_takes_alike(raw: bytes | str,
                                                                      kind: InboundKind | None) -> None:
    _assert_same(raw, kind)


@pytest.mark.parametrize("raw", TRICKY + RAW_BYTES)
def test_parse_inbound_answers_as_the_checked_parse(raw: bytes | str) -> None:
    try:
        answer: object = _value(parse_inbound(raw))
    except InvalidMessage as exc:
        answer = ("refused", exc.code, exc.reason, exc.field)
    assert answer == _checked(raw, None)


def test_ordinary_messages_take_the_fast_parse() -> None:
    assert fast_parse(OK) is not None and fast_parse(OK.encode()) is not None
    assert fast_parse(OK, "engagement") is not None
    assert fast_parse(OK, "commands") is None  # an engagement type on the commands topic is refused
    assert fast_parse(CREATE % (ENVELOPE, "1")) is None  # a Decimal: the checked parse reads it


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["event_id", "deal_id", "occurred_at", "type", "contact_id", "direction", "connected", "duration_minutes",
          "attendees", "signal", "note", "criterion", "evidence", "recorded_by", "to_stage", "requested_by",
          "reason", "outcome", "alert_id", "until", "snoozed_by", "source", "scheduled_for", "initiated_by"]
SOME_VALUES = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+05:30", "2026-01-01T00:00:00",
                               "0001-01-01T00:00:00Z", "email.sent", "call.logged", "meeting.held",
                               "evidence.record", "stage.change", "deal.close", "alert.snooze", "signal.observed",
                               "outbound", "won", "budget_shared", "buyer", "x" * 300, "", "e", 30, 1e308, True])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values | SOME_VALUES, max_size=14), st.sampled_from(KINDS),
       st.booleans())
def test_random_messages_parse_alike(fields: dict[str, object], kind: InboundKind | None, ascii_only: bool) -> None:
    raw = json.dumps({"event_id": "e", "deal_id": "d", "occurred_at": "2026-01-01T00:00:00Z", "type": "email.sent",
                      "contact_id": "c", **fields}, ensure_ascii=ascii_only)
    _assert_same(raw, kind)
    _assert_same(raw.encode("utf-8", "surrogatepass"), kind)
