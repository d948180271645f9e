"""Every protocol type survives unstructure -> JSON -> structure unchanged, on every surface."""

import enum
import json
import types
import typing
from datetime import datetime
from typing import Any, Literal, Union

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialtone.wire import (
    IPC_COMMAND_TAGS,
    IPC_EVENT_TAGS,
    WS_CLIENT_TAGS,
    WS_SERVER_TAGS,
    Codec,
    http,
    testing,
)
from dialtone.wire.fields import Blob, FloatRange, IntRange, Items, Pattern, Text

CODEC = Codec()
ALL_TYPES = testing.all_types()
SURFACE_TYPES = (
    set(http.HTTP_TYPES)
    | set(WS_CLIENT_TAGS.values())
    | set(WS_SERVER_TAGS.values())
    | set(IPC_COMMAND_TAGS.values())
    | set(IPC_EVENT_TAGS.values())
)
FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _nested_types(cls: type) -> set[type]:
    """The attrs classes reachable from `cls`'s fields."""
    found = {cls}
    pending = [cls]
    while pending:
        for hint in typing.get_type_hints(pending.pop(), include_extras=True).values():
            for arg in _flatten(hint):
                if isinstance(arg, type) and attrs.has(arg) and arg not in found:
                    found.add(arg)
                    pending.append(arg)
    return found


def _flatten(hint: Any) -> list[Any]:
    args = typing.get_args(hint)
    return [hint, *[leaf for arg in args for leaf in _flatten(arg)]]


def test_every_type_is_found() -> None:
    """The type list holds the central types (a broken scan would make other tests vacuous)."""
    assert len(ALL_TYPES) > 80
    assert http.ChannelMessage in ALL_TYPES
    assert len(set(ALL_TYPES)) == len(ALL_TYPES)


def test_every_type_belongs_to_a_surface() -> None:
    """Each class is an HTTP body, an event, a command or part of one: none is dead or lost."""
    reachable: set[type] = set()
    for cls in SURFACE_TYPES:
        reachable |= _nested_types(cls)
    assert set(ALL_TYPES) - reachable == set()
    assert reachable - set(ALL_TYPES) == set()


def _allowed_field_type(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, constraint = typing.get_args(hint)[:2]
        if isinstance(constraint, Items):
            return _allowed_field_type(typing.get_args(base)[0])
        return isinstance(constraint, Text | Pattern | Blob | IntRange | FloatRange)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(hint)
        return type(None) in args and all(
            _allowed_field_type(a) for a in args if a is not type(None)
        )
    if origin is Literal:
        return True
    return hint in (bool, datetime, type(None)) or (
        isinstance(hint, type) and (attrs.has(hint) or issubclass(hint, enum.Enum))
    )


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_every_field_is_bounded(cls: type) -> None:
    """No field is a bare str, int, float, bytes or list: every one has a size or range bound."""
    hints = typing.get_type_hints(cls, include_extras=True)
    unbounded = [name for name, hint in hints.items() if not _allowed_field_type(hint)]
    assert unbounded == []


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_structure_unstructure_round_trip(cls: type, data: st.DataObject) -> None:
    """structure(unstructure(x)) == x, also through JSON text, for every type."""
    value = data.draw(testing.strategy_for(cls))
    plain = CODEC.unstructure(value)
    assert CODEC.structure(plain, cls) == value
    assert CODEC.structure(json.loads(json.dumps(plain)), cls) == value


@FAST
@given(testing.ws_client_events())
def test_ws_client_events_round_trip(event: Any) -> None:
    """A client event decodes on the server side to itself."""
    frame = CODEC.encode_ws(event)
    assert frame.isascii()
    assert CODEC.decode_ws_client(frame) == event
    assert CODEC.decode_ws_client(frame.encode()) == event


@FAST
@given(testing.ws_server_events())
def test_ws_server_events_round_trip(event: Any) -> None:
    """A server event decodes on the client side to itself."""
    assert CODEC.decode_ws_server(CODEC.encode_ws(event)) == event


@FAST
@given(testing.ipc_commands())
def test_ipc_commands_round_trip(command: Any) -> None:
    """A command is one newline-terminated line that decodes to itself."""
    line = CODEC.encode_ipc(command)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert CODEC.decode_ipc_command(line) == command


@FAST
@given(testing.ipc_events())
def test_ipc_events_round_trip(event: Any) -> None:
    """An event is one newline-terminated line that decodes to itself."""
    line = CODEC.encode_ipc(event)
    assert line.count(b"\n") == 1
    assert CODEC.decode_ipc_event(line.decode()) == event


@pytest.mark.parametrize(
    "cls", [c for c in http.HTTP_TYPES if attrs.has(c)], ids=lambda c: c.__name__
)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_http_bodies_round_trip(cls: type, data: st.DataObject) -> None:
    """Every HTTP type encodes to UTF-8 JSON and decodes back to itself."""
    body = data.draw(testing.strategy_for(cls))
    assert CODEC.decode_http(cls, CODEC.encode_http(body)) == body


def test_tags_are_stable_dotted_names() -> None:
    """Tags are lowercase dotted names, never class names."""
    for table in (WS_CLIENT_TAGS, WS_SERVER_TAGS, IPC_COMMAND_TAGS, IPC_EVENT_TAGS):
        for tag, cls in table.items():
            assert tag.replace(".", "").replace("_", "").isalpha()
            assert tag.islower()
            assert tag != cls.__name__


def test_route_table_types_are_http_types() -> None:
    """Every body named by the route table is an HTTP type the codec accepts."""
    for route in http.ROUTES:
        for body in (route.request, route.response):
            assert body is None or body in http.HTTP_TYPES
    assert len({(r.method, r.path) for r in http.ROUTES}) == len(http.ROUTES)
