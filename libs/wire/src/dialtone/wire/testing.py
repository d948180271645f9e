"""Hypothesis strategies for every type of the wire protocol.

Strategies are derived from the field types and their `dialtone.wire.fields` bounds, so a new type
gets one as soon as it is listed in `all_types`; a field type the derivation does not know raises
`TypeError` (and the round-trip test fails) instead of being skipped.

Example::

    from hypothesis import given
    from dialtone.wire import Codec, testing

    @given(testing.ws_server_events())
    def test_client_survives_any_event(event):
        handle(Codec().decode_ws_server(Codec().encode_ws(event)))
"""

import enum
import inspect
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Literal, Union

import attrs
from hypothesis import strategies as st

from dialtone.wire import common, http, ipc, ws
from dialtone.wire.fields import Blob, FloatRange, IntRange, Items, Pattern, Text

__all__ = [
    "SMALL",
    "all_types",
    "ipc_commands",
    "ipc_events",
    "strategy_for",
    "ws_client_events",
    "ws_server_events",
]

SMALL: Final = 48
"""Strings, byte strings and lists are drawn at most this long (bounds are tested separately)."""

_MODULES: Final = (common, http, ws, ipc)
_TIMEZONES: Final = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))
_TEXT_ALPHABET: Final = st.characters(codec="utf-8", exclude_characters="\x00")


def all_types() -> tuple[type, ...]:
    """Every attrs class of the protocol, from the modules that define them.

    Returns:
        The classes, in module and definition order.
    """
    found: list[type] = []
    for module in _MODULES:
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if attrs.has(obj) and obj.__module__ == module.__name__ and obj is not http.Route:
                found.append(obj)
    return tuple(found)


def _bounded(base: Any, constraint: object) -> st.SearchStrategy[Any]:
    if isinstance(constraint, Text) and base is str:
        return st.text(
            _TEXT_ALPHABET,
            min_size=constraint.min_chars,
            max_size=max(constraint.min_chars, min(constraint.max_chars, SMALL)),
        )
    if isinstance(constraint, Pattern) and base is str:
        return st.from_regex(constraint.regex, fullmatch=True)
    if isinstance(constraint, Blob) and base is bytes:
        return st.binary(
            min_size=constraint.min_bytes,
            max_size=max(constraint.min_bytes, min(constraint.max_bytes, SMALL)),
        )
    if isinstance(constraint, IntRange) and base is int:
        return st.integers(constraint.lo, constraint.hi)
    if isinstance(constraint, FloatRange) and base is float:
        return st.floats(constraint.lo, constraint.hi, allow_nan=False, allow_infinity=False)
    if isinstance(constraint, Items) and typing.get_origin(base) is tuple:
        element = strategy_for(typing.get_args(base)[0])
        return st.lists(
            element,
            min_size=constraint.min_items,
            max_size=max(constraint.min_items, min(constraint.max_items, 3)),
        ).map(tuple)
    raise TypeError(f"no strategy for {base!r} bounded by {constraint!r}")


def strategy_for(type_: Any) -> st.SearchStrategy[Any]:
    """Return a strategy drawing valid values of a protocol type or field type.

    Args:
        type_: An attrs class of the protocol, a tagged union, or a field type.

    Returns:
        The strategy.

    Raises:
        TypeError: For a type the protocol does not use.
    """
    origin = typing.get_origin(type_)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(type_)
        return _bounded(base, metadata[0])
    if origin is Union or origin is types.UnionType:
        return st.one_of([strategy_for(a) for a in typing.get_args(type_)])
    if origin is Literal:
        return st.sampled_from(typing.get_args(type_))
    if type_ is type(None):
        return st.none()
    if type_ is bool:
        return st.booleans()
    if type_ is datetime:
        return st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(9998, 12, 30),
            timezones=st.sampled_from(_TIMEZONES),
        )
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return st.sampled_from(list(type_))
    if isinstance(type_, type) and attrs.has(type_):
        hints = typing.get_type_hints(type_, include_extras=True)
        fields = {a.name: strategy_for(hints[a.name]) for a in attrs.fields(type_)}
        return st.builds(type_, **fields)
    raise TypeError(f"no strategy for {type_!r}")


def ws_client_events() -> st.SearchStrategy[ws.ClientEvent]:
    """Any event a WebSocket client may send.

    Returns:
        The strategy.
    """
    return strategy_for(ws.ClientEvent)


def ws_server_events() -> st.SearchStrategy[ws.ServerEvent]:
    """Any event a WebSocket server may send.

    Returns:
        The strategy.
    """
    return strategy_for(ws.ServerEvent)


def ipc_commands() -> st.SearchStrategy[ipc.IpcCommand]:
    """Any command the TUI may send to the voice daemon.

    Returns:
        The strategy.
    """
    return strategy_for(ipc.IpcCommand)


def ipc_events() -> st.SearchStrategy[ipc.IpcEvent]:
    """Any event the voice daemon may send to the TUI.

    Returns:
        The strategy.
    """
    return strategy_for(ipc.IpcEvent)
