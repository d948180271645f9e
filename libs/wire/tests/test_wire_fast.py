"""The fast paths of the hot events agree with the generic converter path on every input.

`Codec` decodes and encodes ``channel.message.send`` and ``channel.message.new`` through generated
fast paths (`dialtone.wire._fast`) when its converter comes from `make_converter`. Each test here
runs the same input through such a codec and through one on the same hooks without fast paths,
and requires the same event, the same text, or the same `ProtocolError` (reason, path and detail):
on valid events, on frames mutated character by character and field by field, and on objects
holding values the wire types do not allow.
"""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialtone.wire import Codec, ProtocolError, _fast, http, limits, make_converter, testing, ws
from dialtone.wire._fast import compile_fast_paths
from dialtone.wire._hooks import register_hooks
from dialtone.wire.fields import SealedBody

CODEC = Codec()
GENERIC = Codec(register_hooks(cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)))
"""Same hooks as `make_converter`'s, but not built by it: every call takes the generic path."""
HOT = (ws.MessageSend, ws.MessageNew)
MAX = limits.MAX_WS_FRAME_BYTES
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CH = "0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a001"
NEW = ws.MessageNew(
    message=http.ChannelMessage(
        channel_id=CH,
        seq=42,
        client_msg_id="m-1_x",
        sender_user_id="0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a002",
        sender_device_id="0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a003",
        key_epoch=3,
        sealed_body=bytes(range(40)),
        sealed_sender_name=b"\xff\xfe\x00name!!",
        signature=b"\x01" * 64,
        server_ts=datetime(2026, 5, 9, 7, 35, 25, 123456, tzinfo=UTC),
    )
)
SEND = ws.MessageSend(
    channel_id=CH,
    client_msg_id="m1",
    key_epoch=0,
    sealed_body=b"\x00\x01\x02",
    sealed_sender_name=b"\x00",
    signature=b"\x00\x01",
)
NEW_FRAME = CODEC.encode_ws(NEW)
SEND_FRAME = CODEC.encode_ws(SEND)


def outcome(call: Callable[[Any], Any], arg: Any) -> Any:
    """The result of `call(arg)` (with its repr, which also shows time zones and types), or its
    exception, as comparable data."""
    try:
        result = call(arg)
        return ("ok", result, repr(result))
    except ProtocolError as error:
        return ("ProtocolError", error.reason, error.path, error.detail)
    except Exception as error:  # encoders may raise TypeError and the like on bad objects
        return (type(error).__name__, str(error))


def assert_decoders_agree(text: str | bytes) -> None:
    """Both directions decode `text` to the same event or fail the same way, through the fast
    path or not; and a fast decoder that accepts gives the generic path's event."""
    for fast, generic, direct in (
        (CODEC.decode_ws_client, GENERIC.decode_ws_client, CODEC._fast_ws_client),
        (CODEC.decode_ws_server, GENERIC.decode_ws_server, CODEC._fast_ws_server),
    ):
        expected = outcome(generic, text)
        assert outcome(fast, text) == expected
        accepted = direct(text)
        if accepted is not None:
            assert expected == ("ok", accepted, repr(accepted))


def assert_encoders_agree(event: Any) -> None:
    """`event` encodes to the same text, or fails the same way, with or without the fast path;
    and a fast encoder that gives text gives the generic text."""
    expected = outcome(GENERIC.encode_ws, event)
    assert outcome(CODEC.encode_ws, event) == expected
    text = CODEC._fast_ws_encoders[type(event)](event)
    if text is not None:
        assert expected == ("ok", text, repr(text))


# --- the fast paths are there, and only where they may be -----------------------------------------


def test_make_converter_codecs_have_the_fast_paths() -> None:
    """Codec() and Codec(make_converter()) take the fast paths for canonical frames."""
    for codec in (CODEC, Codec(make_converter())):
        assert codec._fast_ws_server(NEW_FRAME) == NEW
        assert codec._fast_ws_server(NEW_FRAME.encode()) == NEW
        assert codec._fast_ws_client(SEND_FRAME) == SEND
        assert codec._fast_ws_encoders[ws.MessageNew](NEW) == NEW_FRAME
        assert codec._fast_ws_encoders[ws.MessageSend](SEND) == SEND_FRAME
        # A hot tag in the wrong direction is not taken by the other direction's fast path.
        assert codec._fast_ws_client(NEW_FRAME) is None
        assert codec._fast_ws_server(SEND_FRAME) is None


def test_other_converters_get_no_fast_paths() -> None:
    """A converter not built by make_converter, a copy, or one whose hooks changed after
    make_converter, gets the generic path only (its hooks may not be what the fast paths mirror)."""
    changed = make_converter()
    changed.register_structure_hook_func(lambda t: t == SealedBody, lambda value, _: b"")
    assert changed.structure("AAEC", SealedBody) == b""
    for converter in (
        GENERIC.converter,
        make_converter().copy(),
        changed,
    ):
        codec = Codec(converter)
        assert codec._fast_ws_server(NEW_FRAME) is None
        assert codec._fast_ws_client(SEND_FRAME) is None
        assert codec._fast_ws_encoders == {}
        assert codec.encode_ws(SEND) == SEND_FRAME
    event = Codec(changed).decode_ws_client(SEND_FRAME)
    assert isinstance(event, ws.MessageSend)
    assert event.sealed_body == b""


def test_ineligible_hot_event_falls_back_to_the_generic_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a hot event ever get a field kind the generator refuses, Codec still works, on
    the generic path (test_generator_takes_the_hot_events_and_refuses_other_kinds then fails)."""

    def refuse(*_: Any) -> Any:
        raise TypeError("no fast path")

    monkeypatch.setattr(_fast, "compile_fast_paths", refuse)
    codec = Codec()
    assert codec._fast_ws_encoders == {}
    assert codec._fast_ws_server(NEW_FRAME) is None
    assert codec.decode_ws_server(NEW_FRAME) == NEW
    assert codec.encode_ws(NEW) == NEW_FRAME


def test_stored_examples_take_the_fast_paths() -> None:
    """The documented example frames of the hot events are canonical, so the fast paths read
    them, and write them back byte for byte."""
    stored = json.loads((Path(__file__).parent / "data" / "wire_examples.json").read_text())
    for surface, tag, direct, generic in (
        ("ws_client", "channel.message.send", CODEC._fast_ws_client, GENERIC.decode_ws_client),
        ("ws_server", "channel.message.new", CODEC._fast_ws_server, GENERIC.decode_ws_server),
    ):
        text = stored[surface][tag]
        event = direct(text)
        assert event is not None
        assert event == generic(text)
        assert CODEC._fast_ws_encoders[type(event)](event) == text


def test_non_hot_events_are_untouched() -> None:
    """Other events go through the generic path: no fast encoder for them, and their frames are
    not taken by the fast decoders."""
    typing_event = ws.TypingStart(channel_id=CH)
    frame = CODEC.encode_ws(typing_event)
    assert type(typing_event) not in CODEC._fast_ws_encoders
    assert CODEC._fast_ws_client(frame) is None
    assert CODEC.decode_ws_client(frame) == typing_event


# --- valid events ---------------------------------------------------------------------------------


@SETTINGS
@given(event=st.one_of(testing.strategy_for(ws.MessageSend), testing.strategy_for(ws.MessageNew)))
def test_valid_events_agree(event: Any) -> None:
    """Every valid hot event: the fast encoder writes the generic text, and the fast decoder
    reads it (as text and as bytes) to the generic event."""
    text = CODEC._fast_ws_encoders[type(event)](event)
    assert text is not None
    assert text == GENERIC.encode_ws(event)
    direct = CODEC._fast_ws_client if type(event) is ws.MessageSend else CODEC._fast_ws_server
    generic = (
        GENERIC.decode_ws_client if type(event) is ws.MessageSend else GENERIC.decode_ws_server
    )
    assert direct(text) == event
    assert repr(direct(text)) == repr(direct(text.encode())) == repr(generic(text))
    assert_decoders_agree(text)


@pytest.mark.parametrize(
    "sizes",
    [
        (1, 1, 1),
        (2, 3, 4),
        (limits.MAX_SEALED_BODY_BYTES, limits.MAX_SEALED_NAME_BYTES, limits.MAX_SIGNATURE_BYTES),
    ],
)
def test_byte_field_sizes_agree(sizes: tuple[int, int, int]) -> None:
    """Smallest, odd and largest byte fields take the fast path both ways."""
    body, name, signature = (bytes(range(256)) * (n // 256 + 1) for n in sizes)
    event = attrs.evolve(
        SEND,
        sealed_body=body[: sizes[0]],
        sealed_sender_name=name[: sizes[1]],
        signature=signature[: sizes[2]],
    )
    text = CODEC._fast_ws_encoders[ws.MessageSend](event)
    assert text == GENERIC.encode_ws(event)
    assert CODEC._fast_ws_client(text) == event


# --- invalid and non-canonical frames -------------------------------------------------------------


def _edit(frame: str, old: str, new: str) -> str:
    assert old in frame
    return frame.replace(old, new, 1)


NEW_TEXT_CASES = {
    # bounds and types
    "seq negative": _edit(NEW_FRAME, '"seq":42', '"seq":-1'),
    "seq minus zero": _edit(NEW_FRAME, '"seq":42', '"seq":-0'),
    "seq leading zero": _edit(NEW_FRAME, '"seq":42', '"seq":042'),
    "seq 15 digits": _edit(NEW_FRAME, '"seq":42', '"seq":999999999999999'),
    "seq 16 digits": _edit(NEW_FRAME, '"seq":42', '"seq":9007199254740991'),
    "seq over": _edit(NEW_FRAME, '"seq":42', '"seq":9007199254740992'),
    "seq huge": _edit(NEW_FRAME, '"seq":42', '"seq":' + "9" * 5000),
    "seq float": _edit(NEW_FRAME, '"seq":42', '"seq":42.0'),
    "seq exponent": _edit(NEW_FRAME, '"seq":42', '"seq":4e1'),
    "seq bool": _edit(NEW_FRAME, '"seq":42', '"seq":true'),
    "seq string": _edit(NEW_FRAME, '"seq":42', '"seq":"42"'),
    "epoch 9 digits": _edit(NEW_FRAME, '"key_epoch":3', '"key_epoch":999999999'),
    "epoch max": _edit(NEW_FRAME, '"key_epoch":3', '"key_epoch":2147483647'),
    "epoch over": _edit(NEW_FRAME, '"key_epoch":3', '"key_epoch":2147483648'),
    "uuid upper": _edit(NEW_FRAME, CH, CH.upper()),
    "uuid short": _edit(NEW_FRAME, CH, CH[:-1]),
    "uuid escaped": _edit(NEW_FRAME, CH, "\\u0030" + CH[1:]),
    "uuid null": _edit(NEW_FRAME, f'"{CH}"', "null"),
    "msg id 64": _edit(NEW_FRAME, "m-1_x", "x" * 64),
    "msg id 65": _edit(NEW_FRAME, "m-1_x", "x" * 65),
    "msg id empty": _edit(NEW_FRAME, '"m-1_x"', '""'),
    "msg id dot": _edit(NEW_FRAME, "m-1_x", "m.1"),
    "msg id non-ascii": _edit(NEW_FRAME, "m-1_x", "m\u00e91"),
    "msg id escaped quote": _edit(NEW_FRAME, "m-1_x", 'm\\"1'),
    # timestamps
    "ts offset": _edit(NEW_FRAME, "07:35:25.123456Z", "07:35:25.123456+05:30"),
    "ts no fraction": _edit(NEW_FRAME, "07:35:25.123456Z", "07:35:25Z"),
    "ts millis": _edit(NEW_FRAME, "07:35:25.123456Z", "07:35:25.123Z"),
    "ts impossible": _edit(NEW_FRAME, "2026-05-09", "2026-02-30"),
    "ts leap second": _edit(NEW_FRAME, "07:35:25", "23:59:60"),
    "ts lower z": _edit(NEW_FRAME, "123456Z", "123456z"),
    "ts space": _edit(NEW_FRAME, "09T07", "09 07"),
    "ts overflow": _edit(NEW_FRAME, "2026-05-09T07:35:25.123456Z", "0001-01-01T00:00:00+01:00"),
    # structure
    "unknown field": _edit(NEW_FRAME, '"seq":42', '"seq":42,"x":1'),
    "unknown top field": _edit(NEW_FRAME, '"message":{', '"x":1,"message":{'),
    "missing field": _edit(NEW_FRAME, '"seq":42,', ""),
    "repeated key": _edit(NEW_FRAME, '"seq":42', '"seq":41,"seq":42'),
    "fields reordered": _edit(
        NEW_FRAME, '"seq":42,"client_msg_id":"m-1_x"', '"client_msg_id":"m-1_x","seq":42'
    ),
    "spaces": _edit(NEW_FRAME, '"seq":42', '"seq" : 42'),
    "newline": NEW_FRAME + "\n",
    "trailing garbage": NEW_FRAME + "x",
    "trailing object": NEW_FRAME + "{}",
    "bom": "\ufeff" + NEW_FRAME,
    "wrong tag": _edit(NEW_FRAME, "channel.message.new", "channel.message.old"),
    "message null": NEW_FRAME.split('"message":')[0] + '"message":null}',
    "not json": NEW_FRAME[:-1],
    "oversize": _edit(NEW_FRAME, '"seq":42', '"seq":42' + " " * MAX),
}


def _b64_cases() -> dict[str, str]:
    """Frames whose sealed_sender_name (9 bytes, 12 characters) is replaced."""
    name = CODEC.unstructure(NEW)["message"]["sealed_sender_name"]
    cases = {
        "b64 padding": name[:-2] + "==",
        "b64 plus": "+" + name[1:],
        "b64 slash": "/" + name[1:],
        "b64 std padded": name + "==",
        "b64 4n+1": name + "A",
        "b64 4n+2 canonical": name + "AA",
        "b64 4n+2 unused bits": name + "AB",
        "b64 4n+3 canonical": name + "AAE",
        "b64 4n+3 unused bits": name + "AAF",
        "b64 empty": "",
        "b64 space": name[:4] + " " + name[4:],
        "b64 newline escape": name[:4] + "\\n" + name[4:],
        "b64 raw newline": name[:4] + "\n" + name[4:],
        "b64 escape": "\\u0041" + name[1:],
        "b64 non-ascii": "\u00c1" + name[1:],
        "b64 nul": "\x00" + name[1:],
        "b64 max": "A" * ((limits.MAX_SEALED_NAME_BYTES * 4 + 2) // 3 - 1) + "w",
        "b64 over max": "A" * ((limits.MAX_SEALED_NAME_BYTES * 4 + 2) // 3 + 1),
    }
    return {k: _edit(NEW_FRAME, f'"{name}"', f'"{v}"') for k, v in cases.items()}


CASES = {**NEW_TEXT_CASES, **_b64_cases()}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_edited_frames_agree(text: str) -> None:
    """Hand-picked edits of a canonical frame, one per rule the fast path must not bend."""
    assert_decoders_agree(text)
    assert_decoders_agree(text.encode("utf-8", "surrogatepass"))


def test_edited_frames_cover_both_outcomes() -> None:
    """The cases above include valid non-canonical frames (the generic path takes them) and
    valid canonical ones the fast path takes, besides the errors."""
    results = {name: outcome(CODEC.decode_ws_server, text)[0] for name, text in CASES.items()}
    assert results["fields reordered"] == "ok"
    assert results["ts offset"] == "ok"
    assert results["seq 16 digits"] == "ok"
    assert results["seq over"] == "ProtocolError"
    assert CODEC._fast_ws_server(CASES["seq 16 digits"]) is not None
    assert CODEC._fast_ws_server(CASES["epoch max"]) is not None
    assert CODEC._fast_ws_server(CASES["b64 max"]) is not None
    assert CODEC._fast_ws_server(CASES["b64 4n+3 canonical"]) is not None
    assert results["b64 4n+3 unused bits"] == "ProtocolError"
    assert results["repeated key"] == "ProtocolError"
    assert results["ts offset"] == "ok"
    assert sum(r == "ProtocolError" for r in results.values()) > 30


MUTATION_TEXT = st.one_of(
    st.sampled_from("0123456789abcdefAEQgwzZ-_"),
    st.sampled_from([*'"\\,:{}[]+/=.eET \x00\n\x7f\u00e9\u2028\ud800', "\\u0041", "null"]),
)
"""Characters that keep a value in or near its alphabet, and characters that break it."""


VALUE = re.compile(r'(?<=":)"?([^"{},]*)')
"""The text of each string or number value of a compact frame (group 1)."""


@st.composite
def mutated_frames(draw: st.DrawFn) -> str:
    """A canonical frame of a hot event, with a few characters replaced, inserted or deleted,
    mostly inside values (elsewhere the frame is rarely JSON any more)."""
    event = draw(
        st.one_of(testing.strategy_for(ws.MessageSend), testing.strategy_for(ws.MessageNew))
    )
    text = GENERIC.encode_ws(event)
    for _ in range(draw(st.integers(1, 2))):
        spans = [m.span(1) for m in VALUE.finditer(text)]
        in_value = draw(st.integers(0, 4)) > 0
        if spans and in_value:
            start, end = draw(st.sampled_from(spans))
            at = draw(st.integers(start, max(start, end - 1)))
        else:
            at = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        new = "" if action == "delete" else draw(MUTATION_TEXT)
        text = text[:at] + new + text[at + (action != "insert") :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_frames())
@example(text=SEND_FRAME.replace('"key_epoch":0', '"key_epoch":00'))
@example(text=NEW_FRAME.replace(CH, CH.replace("a", "b")))
def test_mutated_frames_agree(text: str) -> None:
    """Fuzz: character edits anywhere in a canonical frame (most stay canonical and valid, or
    break one field's rule) give the same result with and without the fast paths."""
    assert_decoders_agree(text)
    assert_decoders_agree(text.encode("utf-8", "surrogatepass"))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.from_regex(r"[A-Za-z0-9_-]{0,12}", fullmatch=True),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@SETTINGS
@given(
    event=st.one_of(testing.strategy_for(ws.MessageSend), testing.strategy_for(ws.MessageNew)),
    data=st.data(),
)
def test_field_replacements_agree(event: Any, data: st.DataObject) -> None:
    """Fuzz: one field (of the event or of its message) replaced by any JSON, removed, or
    joined by an unknown one, written compactly: same result with and without the fast paths."""
    plain = GENERIC.unstructure(event)
    target = plain["message"] if "message" in plain and data.draw(st.booleans()) else plain
    key = data.draw(st.sampled_from(sorted(target)))
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        target[key] = data.draw(JSON_VALUES)
    elif action == "drop":
        del target[key]
    else:
        target[data.draw(st.text(max_size=12))] = data.draw(JSON_VALUES)
    assert_decoders_agree(json.dumps(plain, separators=(",", ":")))


# --- objects the wire types do not allow ----------------------------------------------------------


class _Str(str):
    __slots__ = ()


class _Int(int):
    pass


class _Datetime(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "X" + super().isoformat(sep, timespec)


@attrs.frozen(kw_only=True)
class _Message(http.ChannelMessage):
    pass


ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x",
    'quote"',
    "back\\slash",
    "\u00e9",
    "\x00",
    "\ud800",
    _Str(CH),
    _Int(7),
    b"\x00",
    bytearray(b"\x00\x01"),
    memoryview(b"\x00\x01"),
    (),
    [],
    {},
    datetime(2026, 5, 9, 7, 35, 25),
    datetime(2026, 5, 9, 7, 35, 25, tzinfo=timezone(timedelta(hours=-8))),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    _Datetime(2026, 5, 9, tzinfo=UTC),
    ws.TypingStart(channel_id=CH),
    "channel.message.new",
    "channel.message.send",
)


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
@pytest.mark.parametrize(
    ("base", "field"),
    [(SEND, f.name) for f in attrs.fields(ws.MessageSend)]
    + [(NEW, "type"), (NEW, "message")]
    + [(NEW, "message." + f.name) for f in attrs.fields(http.ChannelMessage)],
)
def test_odd_objects_encode_the_same(base: Any, field: str, value: Any) -> None:
    """attrs does not check field values: whatever an event holds, the fast encoder writes the
    generic text or leaves the event to the generic path (which writes or raises the same)."""
    if field.startswith("message."):
        event = attrs.evolve(base, message=attrs.evolve(base.message, **{field[8:]: value}))
    else:
        event = attrs.evolve(base, **{field: value})
    assert_encoders_agree(event)


def test_message_subclass_encodes_the_same() -> None:
    """A subclass of the nested class is left to the generic path."""
    message = _Message(**attrs.asdict(NEW.message, recurse=False))
    assert_encoders_agree(attrs.evolve(NEW, message=message))


# --- the generator beyond the two hot events ------------------------------------------------------


def _eligible() -> list[type]:
    found = []
    for cls in testing.all_types():
        try:
            compile_fast_paths(CODEC.converter, cls, MAX)
        except TypeError:
            continue
        found.append(cls)
    return found


ELIGIBLE = _eligible()


def test_generator_takes_the_hot_events_and_refuses_other_kinds() -> None:
    """Both hot events are eligible; a class with a field kind the generator does not know
    (text, enums, booleans, lists, optionals, floats) is refused, not approximated."""
    assert set(HOT) <= set(ELIGIBLE)
    assert http.ChannelMessage in ELIGIBLE
    for cls in (ws.Hello, ws.VoiceJoin, ws.PresenceSet, http.HistoryQuery, ws.ErrorEvent):
        assert cls not in ELIGIBLE


@pytest.mark.parametrize("cls", ELIGIBLE, ids=lambda c: c.__qualname__)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_paths_agree_for_every_eligible_type(cls: type, data: st.DataObject) -> None:
    """For every protocol type the generator accepts, its encoder writes the generic compact
    JSON and its decoder reads that back to the generic value (and refuses an edited copy
    unless the generic structure accepts it to the same value)."""
    decode, encode = compile_fast_paths(CODEC.converter, cls, MAX)
    value = data.draw(testing.strategy_for(cls))
    plain = GENERIC.unstructure(value)
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=True)
    assert encode(value) == text
    assert repr(decode(text)) == repr(GENERIC.structure(json.loads(text), cls))
    at = data.draw(st.integers(0, len(text) - 1))
    edited = text[:at] + data.draw(MUTATION_TEXT) + text[at + 1 :]
    accepted = decode(edited)
    if accepted is not None:
        assert repr(accepted) == repr(GENERIC.structure(json.loads(edited), cls))
