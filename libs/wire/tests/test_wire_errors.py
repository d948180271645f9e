"""Every way input can be wrong ends in one ProtocolError with the right reason and path."""

import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialtone.wire import (
    Codec,
    ProtocolError,
    Reason,
    http,
    ipc,
    limits,
    negotiate_version,
    testing,
    ws,
)
from dialtone.wire.codec import error_event, error_response
from dialtone.wire.common import HTTP_STATUS, ErrorCode

CODEC = Codec()
CH = "0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a001"
USER = "0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a002"
DEV = "0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a003"


def send_frame(**overrides: Any) -> dict[str, Any]:
    """A valid channel.message.send as parsed JSON, with some fields replaced or removed."""
    frame: dict[str, Any] = {
        "type": "channel.message.send",
        "channel_id": CH,
        "client_msg_id": "m1",
        "key_epoch": 1,
        "sealed_body": "AAEC",
        "sealed_sender_name": "AAEC",
        "signature": "AAEC",
    }
    for key, value in overrides.items():
        if value is DROP:
            del frame[key]
        else:
            frame[key] = value
    return frame


DROP = object()


def reject_client(frame: Any) -> ProtocolError:
    """Decode `frame` (dict or text) as a client event, expecting a ProtocolError."""
    text = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ws_client(text)
    return info.value


def test_valid_frame_decodes() -> None:
    """The base frame of these tests is valid, so each failure below is due to its one change."""
    event = CODEC.decode_ws_client(json.dumps(send_frame()))
    assert isinstance(event, ws.MessageSend)
    assert event.sealed_body == b"\x00\x01\x02"


@pytest.mark.parametrize(
    "text",
    ["", "{", "nul", '{"type": "ping", "ping_id": 1}x', "[1,]", '{"a":NaN}', '{"a":Infinity}'],
)
def test_malformed_json(text: str) -> None:
    """Text that is not exactly one JSON document is malformed."""
    assert reject_client(text).reason is Reason.MALFORMED


def test_invalid_utf8_is_malformed() -> None:
    """Bytes that are not UTF-8 are malformed, not a UnicodeDecodeError."""
    assert reject_client(b'{"type":"ping","ping_id":1,"x":"\xff"}').reason is Reason.MALFORMED


def test_repeated_key_is_malformed() -> None:
    """A key given twice could be read two ways; it is refused."""
    assert reject_client('{"type":"ping","ping_id":1,"ping_id":2}').reason is Reason.MALFORMED


def test_deep_nesting_is_malformed() -> None:
    """Nesting deep enough to exhaust recursion is malformed, not a RecursionError."""
    assert reject_client("[" * 100_000 + "]" * 100_000).reason is Reason.MALFORMED


def test_oversize_frame() -> None:
    """A frame over the limit is refused before parsing."""
    big = json.dumps(send_frame(sealed_body="A" * limits.MAX_WS_FRAME_BYTES))
    error = reject_client(big)
    assert error.reason is Reason.TOO_LARGE
    assert reject_client(big.encode()).reason is Reason.TOO_LARGE


def test_oversize_frame_counts_utf8_bytes() -> None:
    """The limit is in UTF-8 bytes: a frame under it in characters but over it in bytes fails."""
    text = '{"type":"ping","ping_id":1,"x":"' + "\u00e9" * (limits.MAX_WS_FRAME_BYTES // 2) + '"}'
    assert len(text) < limits.MAX_WS_FRAME_BYTES < len(text.encode())
    assert reject_client(text).reason is Reason.TOO_LARGE


@pytest.mark.parametrize("frame", [[], "x", 1, None, True])
def test_event_must_be_an_object(frame: Any) -> None:
    """A JSON value that is not an object is the wrong type."""
    error = reject_client(json.dumps(frame))
    assert error.reason is Reason.WRONG_TYPE
    assert error.path == "$"


def test_missing_type() -> None:
    """An object without a type tag is refused as such."""
    error = reject_client(send_frame(type=DROP))
    assert (error.reason, error.path) == (Reason.MISSING_TYPE, "$.type")


@pytest.mark.parametrize("tag", ["nope", "ready", "channel.message.new", 1, None, ["hello"]])
def test_unknown_type(tag: Any) -> None:
    """Unknown tags, server-only tags sent by a client, and non-string tags are unknown types."""
    error = reject_client(send_frame(type=tag))
    assert error.reason in (Reason.UNKNOWN_TYPE, Reason.MISSING_TYPE)
    assert error.path == "$.type"
    if tag is not None:
        assert error.reason is Reason.UNKNOWN_TYPE


def test_server_rejects_client_only_tag_from_server() -> None:
    """Direction matters: a client event is not a valid server event."""
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ws_server(json.dumps(send_frame()))
    assert info.value.reason is Reason.UNKNOWN_TYPE


def test_unknown_field() -> None:
    """A field the type does not define is refused, with its name in the path."""
    error = reject_client(send_frame(extra=1))
    assert (error.reason, error.path) == (Reason.UNKNOWN_FIELD, "$.extra")


def test_unknown_field_nested_in_a_list() -> None:
    """Unknown fields are found at any depth, and the path says where."""
    frame = {
        "type": "hello",
        "protocol_versions": [1],
        "client": "t",
        "resume": [{"channel_id": CH, "seq": 1}, {"channel_id": CH, "seq": 2, "x": 0}],
    }
    error = reject_client(frame)
    assert (error.reason, error.path) == (Reason.UNKNOWN_FIELD, "$.resume[1].x")


def test_missing_field() -> None:
    """A required field that is absent is named."""
    error = reject_client(send_frame(key_epoch=DROP))
    assert (error.reason, error.path) == (Reason.MISSING_FIELD, "$.key_epoch")


def test_missing_field_nested() -> None:
    """Missing fields inside nested objects carry the full path."""
    frame = {"type": "hello", "protocol_versions": [1], "client": "t", "resume": [{"seq": 1}]}
    error = reject_client(frame)
    assert (error.reason, error.path) == (Reason.MISSING_FIELD, "$.resume[0].channel_id")


def test_optional_field_may_be_absent_or_null() -> None:
    """Fields with defaults may be left out or, when optional, given as null."""
    base = {"type": "webrtc.ice", "channel_id": CH, "call_id": "c", "to_device_id": DEV}
    one = CODEC.decode_ws_client(json.dumps({**base, "candidate": ""}))
    two = CODEC.decode_ws_client(json.dumps({**base, "candidate": "", "sdp_mid": None}))
    assert one == two


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key_epoch", "1"),
        ("key_epoch", 1.0),
        ("key_epoch", True),
        ("key_epoch", None),
        ("key_epoch", [1]),
        ("channel_id", 1),
        ("channel_id", {"id": CH}),
        ("sealed_body", 12),
        ("sealed_body", ["AAEC"]),
    ],
)
def test_wrong_json_type(field: str, value: Any) -> None:
    """No coercion: strings are not numbers, booleans and floats not integers, null no value."""
    error = reject_client(send_frame(**{field: value}))
    assert (error.reason, error.path) == (Reason.WRONG_TYPE, f"$.{field}")


def test_wrong_type_for_list_and_object() -> None:
    """A string is not a list and a list is not an object."""
    hello = {"type": "hello", "protocol_versions": "1", "client": "t"}
    assert reject_client(hello).reason is Reason.WRONG_TYPE
    hello = {"type": "hello", "protocol_versions": [1], "client": "t", "resume": [[CH, 1]]}
    error = reject_client(hello)
    assert (error.reason, error.path) == (Reason.WRONG_TYPE, "$.resume[0]")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel_id", CH.upper()),
        ("channel_id", CH + "0"),
        ("channel_id", " " + CH),
        ("channel_id", CH + "\n"),
        ("client_msg_id", ""),
        ("client_msg_id", "has space"),
        ("client_msg_id", "x" * 65),
        ("key_epoch", -1),
        ("key_epoch", 2**31),
        ("type", "channel.message.send "),
    ],
)
def test_bad_value(field: str, value: Any) -> None:
    """Values off their pattern or range are bad values."""
    frame = send_frame(**{field: value})
    if field == "type":
        assert reject_client(frame).reason is Reason.UNKNOWN_TYPE
        return
    error = reject_client(frame)
    assert (error.reason, error.path) == (Reason.BAD_VALUE, f"$.{field}")


def test_bad_enum_value() -> None:
    """An enum value outside the set is a bad value (and a number is the wrong type)."""
    error = reject_client({"type": "presence.set", "status": "busy"})
    assert (error.reason, error.path) == (Reason.BAD_VALUE, "$.status")
    assert reject_client({"type": "presence.set", "status": 1}).reason is Reason.WRONG_TYPE


def test_literal_tag_is_checked_on_direct_structure() -> None:
    """Structuring a class directly checks its own tag too."""
    with pytest.raises(ProtocolError) as info:
        CODEC.structure({"type": "pong", "ping_id": 1}, ws.Ping)
    assert (info.value.reason, info.value.path) == (Reason.BAD_VALUE, "$.type")


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-05-09 07:35:25Z",
        "2026-05-09T07:35:25",
        "2026-05-09",
        "20260509T073525Z",
        "2026-05-09T07:35:25.1234567Z",
        "2026-05-09t07:35:25z",
        "2026-13-09T07:35:25Z",
        "2026-02-30T07:35:25Z",
        "2026-05-09T07:35:60Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "\u0662026-05-09T07:35:25Z",
    ],
)
def test_bad_timestamp(stamp: str) -> None:
    """Only RFC 3339 date-times with an offset are timestamps, and only real instants."""
    frame = {"type": "channel.message.ack", "channel_id": CH, "client_msg_id": "m", "seq": 1}
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ws_server(json.dumps({**frame, "server_ts": stamp}))
    assert (info.value.reason, info.value.path) == (Reason.BAD_VALUE, "$.server_ts")


def test_timestamps_with_offsets_become_utc() -> None:
    """Any offset is accepted and normalized to UTC; encoding writes Z with microseconds."""
    frame = {"type": "channel.message.ack", "channel_id": CH, "client_msg_id": "m", "seq": 1}
    ack = CODEC.decode_ws_server(json.dumps({**frame, "server_ts": "2026-05-09T09:35:25.5+02:00"}))
    assert isinstance(ack, ws.MessageAck)
    assert CODEC.unstructure(ack)["server_ts"] == "2026-05-09T07:35:25.500000Z"


@pytest.mark.parametrize(
    "text", ["AAEC=", "AAE=", "AA+C", "AA/C", "A", "AAB", "AAE C", "AAé", "AB", "AAF"]
)
def test_bad_base64(text: str) -> None:
    """Only canonical base64url without padding passes (AB, AAB and AAF have stray low bits)."""
    error = reject_client(send_frame(sealed_body=text))
    assert (error.reason, error.path) == (Reason.BAD_ENCODING, "$.sealed_body")


def test_byte_field_bounds() -> None:
    """Byte fields hold exactly their bounds: the largest body passes, one byte more fails, and an
    empty sealed body is too short."""
    from dialtone.wire import b64url_encode

    largest = b64url_encode(bytes(limits.MAX_SEALED_BODY_BYTES))
    event = CODEC.decode_ws_client(json.dumps(send_frame(sealed_body=largest)))
    assert isinstance(event, ws.MessageSend)
    assert len(event.sealed_body) == limits.MAX_SEALED_BODY_BYTES
    over = b64url_encode(bytes(limits.MAX_SEALED_BODY_BYTES + 1))
    assert reject_client(send_frame(sealed_body=over)).reason is Reason.BAD_LENGTH
    assert reject_client(send_frame(sealed_body="")).reason is Reason.BAD_LENGTH


def test_text_bounds_and_characters() -> None:
    """Text is bounded in code points and may hold neither NUL nor lone surrogates."""
    ok = {"type": "hello", "protocol_versions": [1], "client": "é" * limits.MAX_NAME_CHARS}
    assert isinstance(CODEC.decode_ws_client(json.dumps(ok)), ws.Hello)
    long = {**ok, "client": "x" * (limits.MAX_NAME_CHARS + 1)}
    assert reject_client(long).reason is Reason.BAD_LENGTH
    assert reject_client({**ok, "client": "a\x00b"}).reason is Reason.BAD_VALUE
    surrogate = '{"type":"hello","protocol_versions":[1],"client":"\\ud800"}'
    error = reject_client(surrogate)
    assert (error.reason, error.path) == (Reason.BAD_VALUE, "$.client")


def test_list_bounds() -> None:
    """Lists are bounded both ways: hello needs a version, and at most 16."""
    hello = {"type": "hello", "protocol_versions": [], "client": "t"}
    error = reject_client(hello)
    assert (error.reason, error.path) == (Reason.BAD_LENGTH, "$.protocol_versions")
    hello["protocol_versions"] = [1] * (limits.MAX_PROTOCOL_VERSIONS + 1)
    assert reject_client(hello).reason is Reason.BAD_LENGTH


def test_float_bounds() -> None:
    """Floats must be finite numbers in range; integers are accepted as floats."""
    level = {"type": "voice.level", "rms_dbfs": -20, "peak_dbfs": -3.5, "transmitting": True}
    event = CODEC.decode_ipc_event(json.dumps(level))
    assert isinstance(event, ipc.Level)
    assert event.rms_dbfs == -20.0
    for bad, reason in (
        (1.5, Reason.BAD_VALUE),
        ("-3", Reason.WRONG_TYPE),
        (True, Reason.WRONG_TYPE),
    ):
        with pytest.raises(ProtocolError) as info:
            CODEC.decode_ipc_event(json.dumps({**level, "peak_dbfs": bad}))
        assert (info.value.reason, info.value.path) == (reason, "$.peak_dbfs")
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ipc_event(json.dumps(level).replace("-3.5", "-1e999"))
    assert info.value.reason is Reason.BAD_VALUE


def test_http_limits_depend_on_direction() -> None:
    """Request bodies are held to 1 MiB; response bodies may be larger."""
    body = b'{"username":"' + b"x" * limits.MAX_HTTP_REQUEST_BYTES + b'"}'
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_http(http.UserLookupRequest, body)
    assert info.value.reason is Reason.TOO_LARGE
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_http(http.ErrorResponse, body)
    assert info.value.reason is Reason.UNKNOWN_FIELD


def test_http_error_paths() -> None:
    """HTTP bodies fail the same way as events, with paths into nested bodies."""
    body = {
        "invite_token": "t" * 16,
        "username": "ann",
        "password": "pw",
        "device": {"x25519_public": "AA", "ed25519_public": "AA"},
    }
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_http(http.RegisterRequest, json.dumps(body))
    assert (info.value.reason, info.value.path) == (Reason.MISSING_FIELD, "$.device.key_signature")


def test_decode_http_refuses_non_http_types() -> None:
    """decode_http is for HTTP bodies; asking for an event type is a programming error."""
    with pytest.raises(TypeError):
        CODEC.decode_http(ws.Hello, b"{}")


def test_ipc_errors() -> None:
    """IPC lines fail like frames; a WebSocket-only tag is unknown over IPC."""
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ipc_command(b'{"type":"channel.message.send"}\n')
    assert info.value.reason is Reason.UNKNOWN_TYPE
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ipc_command(b"x" * (limits.MAX_IPC_LINE_BYTES + 1))
    assert info.value.reason is Reason.TOO_LARGE
    with pytest.raises(ProtocolError) as info:
        CODEC.decode_ipc_event(b'{"type":"stats"}')
    assert info.value.reason is Reason.MISSING_FIELD


def test_negotiate_version() -> None:
    """The highest common version wins; none in common is unsupported_version."""
    assert negotiate_version([1, 2, 7], supported=[1, 2, 3]) == 2
    with pytest.raises(ProtocolError) as info:
        negotiate_version([2, 3], supported=[1])
    assert info.value.reason is Reason.UNSUPPORTED_VERSION


def test_history_query() -> None:
    """History query strings are parsed strictly and round-trip."""
    query = http.HistoryQuery.from_query({"before": "10", "limit": "200"})
    assert query == http.HistoryQuery(before=10, limit=200)
    assert http.HistoryQuery.from_query(query.to_query()) == query
    assert http.HistoryQuery.from_query({}) == http.HistoryQuery()
    cases = [
        ({"limit": "201"}, Reason.BAD_VALUE, "?limit"),
        ({"limit": "0"}, Reason.BAD_VALUE, "?limit"),
        ({"after": "-1"}, Reason.BAD_VALUE, "?after"),
        ({"after": "1e3"}, Reason.BAD_VALUE, "?after"),
        ({"after": "\u0661"}, Reason.BAD_VALUE, "?after"),
        ({"before": str(2**60)}, Reason.BAD_VALUE, "?before"),
        ({"since": "1"}, Reason.UNKNOWN_FIELD, "?since"),
    ]
    for query_args, reason, path in cases:
        with pytest.raises(ProtocolError) as info:
            http.HistoryQuery.from_query(query_args)
        assert (info.value.reason, info.value.path) == (reason, path)


def test_encode_refuses_what_cannot_go_on_the_wire() -> None:
    """Naive datetimes, non-finite floats, oversize frames and wrong surfaces fail on encode."""
    from datetime import datetime

    ack = ws.MessageAck(channel_id=CH, client_msg_id="m", seq=1, server_ts=datetime(2026, 1, 1))
    with pytest.raises(ProtocolError) as info:
        CODEC.encode_ws(ack)
    assert info.value.reason is Reason.BAD_VALUE
    level = ipc.Level(rms_dbfs=float("nan"), peak_dbfs=0.0, transmitting=False)
    with pytest.raises(ProtocolError):
        CODEC.encode_ipc(level)
    huge = ws.WebRtcOffer(
        channel_id=CH, call_id="c", to_device_id=DEV, sdp="v" * 300_000, signature=b"s"
    )
    with pytest.raises(ProtocolError) as info:
        CODEC.encode_ws(huge)
    assert info.value.reason is Reason.TOO_LARGE
    with pytest.raises(TypeError):
        CODEC.encode_ws(ipc.Mute())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CODEC.encode_ipc(ws.VoiceLeave(channel_id=CH))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CODEC.encode_http(ws.VoiceLeave(channel_id=CH))


def test_error_replies() -> None:
    """Protocol errors become error bodies and events with stable codes and HTTP statuses."""
    too_large = ProtocolError(Reason.TOO_LARGE, "over")
    body = error_response(too_large)
    assert body.error.code == ErrorCode.PAYLOAD_TOO_LARGE
    assert HTTP_STATUS[ErrorCode(body.error.code)] == 413
    missing = ProtocolError(Reason.MISSING_FIELD, "required field missing", "$.seq")
    event = error_event(missing, ref="m1")
    assert (event.code, event.ref) == (ErrorCode.BAD_REQUEST, "m1")
    assert event.message == "missing_field: $.seq: required field missing"
    assert json.loads(CODEC.encode_http(body)) == {
        "error": {"code": "payload_too_large", "message": "too_large: over"}
    }
    assert set(HTTP_STATUS) == set(ErrorCode)


def test_protocol_error_pickles_and_reprs() -> None:
    """The error crosses process boundaries (multiprocessing, logging) intact."""
    import pickle

    error = ProtocolError(Reason.BAD_VALUE, "x", "$.a")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - bytes made just above
    assert (copy.reason, copy.detail, copy.path, str(copy)) == (
        Reason.BAD_VALUE,
        "x",
        "$.a",
        "$.a: x",
    )
    assert "bad_value" in repr(error)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TAGS = st.sampled_from(
    ["hello", "ping", "channel.message.send", "channel.message.new", "voice.join", "stats", "x"]
)


def _outcome(decode: Callable[[str], object], text: str) -> object:
    """The decoded value, or the ProtocolError raised (any other exception fails the test)."""
    try:
        return decode(text)
    except ProtocolError as error:
        return error


DECODERS = (
    CODEC.decode_ws_client,
    CODEC.decode_ws_server,
    CODEC.decode_ipc_command,
    CODEC.decode_ipc_event,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON, tag=TAGS, data=st.data())
def test_any_json_gives_an_event_or_a_protocol_error(value: Any, tag: str, data: Any) -> None:
    """Fuzz: arbitrary JSON, tagged or not, never raises anything but ProtocolError."""
    if isinstance(value, dict) and data.draw(st.booleans()):
        value = {**value, "type": tag}
    text = json.dumps(value)
    for decode in DECODERS:
        outcome = _outcome(decode, text)
        assert isinstance(outcome, ProtocolError) or attrs.has(type(outcome))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=testing.ws_server_events(),
    data=st.data(),
)
def test_mutated_events_give_an_event_or_a_protocol_error(event: Any, data: Any) -> None:
    """Fuzz: a valid event with one field replaced by any JSON is decoded or refused cleanly."""
    plain = CODEC.unstructure(event)
    key = data.draw(st.sampled_from(sorted(plain)))
    plain[key] = data.draw(JSON)
    outcome = _outcome(CODEC.decode_ws_server, json.dumps(plain))
    if isinstance(outcome, ProtocolError):
        # Non-finite floats make json.dumps write Infinity, which is not JSON at all.
        assert outcome.path.startswith("$") or outcome.reason is Reason.MALFORMED
    else:
        assert attrs.has(type(outcome))


def test_line_splitter() -> None:
    """NDJSON lines are split across reads; an oversize line is reported once, in its place."""
    splitter = ipc.LineSplitter(max_line_bytes=10)
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b':1}\n\n{"b":2}\n{') == [b'{"a":1}', b'{"b":2}']
    items = splitter.feed(b'"c":3}\n' + b"x" * 20 + b'\n{"d":4}\n')
    assert items[0] == b'{"c":3}'
    assert isinstance(items[1], ProtocolError)
    assert items[1].reason is Reason.TOO_LARGE
    assert items[2] == b'{"d":4}'
    # A line that grows past the limit before its newline arrives: reported once, then skipped.
    first = splitter.feed(b"y" * 30)
    assert len(first) == 1
    assert isinstance(first[0], ProtocolError)
    assert splitter.feed(b"y" * 30) == []
    assert splitter.feed(b'yy\n{"e":5}\n') == [b'{"e":5}']
