"""The converter and the encode/decode functions of every surface.

`make_converter` builds the one cattrs converter; `Codec` wraps it with JSON framing, size limits
and error translation. Neither is cached here: a process makes one `Codec` at start and passes it
to whatever needs it.
"""

import json
from collections.abc import Iterable
from typing import Any, Final, NoReturn, TypeVar

import attrs
import cattrs

from dialtone.wire import _fast, _hooks, http, ipc, limits, ws
from dialtone.wire.common import (
    SUPPORTED_PROTOCOL_VERSIONS,
    ErrorCode,
    ErrorDetail,
)
from dialtone.wire.errors import ProtocolError, Reason

T = TypeVar("T")

WS_CLIENT_TAGS: Final = _hooks.tag_table(ws.ClientEvent)
"""Tag to class, for every `ws.ClientEvent`."""
WS_SERVER_TAGS: Final = _hooks.tag_table(ws.ServerEvent)
"""Tag to class, for every `ws.ServerEvent`."""
IPC_COMMAND_TAGS: Final = _hooks.tag_table(ipc.IpcCommand)
"""Tag to class, for every `ipc.IpcCommand`."""
IPC_EVENT_TAGS: Final = _hooks.tag_table(ipc.IpcEvent)
"""Tag to class, for every `ipc.IpcEvent`."""

_WS_CLASSES: Final = frozenset(WS_CLIENT_TAGS.values()) | frozenset(WS_SERVER_TAGS.values())
_IPC_CLASSES: Final = frozenset(IPC_COMMAND_TAGS.values()) | frozenset(IPC_EVENT_TAGS.values())

# The hot events (one per direction) get generated fast paths; see `dialtone.wire._fast`.
_FAST_CLIENT_EVENT: Final = ws.MessageSend
_FAST_SERVER_EVENT: Final = ws.MessageNew
# Every type whose hooks those fast paths stand in for, unions included.
_FAST_DEPENDENCIES: Final = _fast.dependencies(
    (ws.ClientEvent, ws.ServerEvent, _FAST_CLIENT_EVENT, _FAST_SERVER_EVENT)
)


class _WireConverter(cattrs.Converter):
    """The converter `make_converter` builds: a cattrs converter that also remembers the hooks it
    was built with, so that `Codec` can check they are unchanged before using the fast paths that
    mirror them."""

    __slots__ = ("wire_hooks",)

    wire_hooks: tuple[Any, ...]


def make_converter() -> cattrs.Converter:
    """Build the converter that un/structures every type of the wire protocol.

    Returns:
        A new converter (``forbid_extra_keys``, detailed validation, every hook registered).
        ``converter.structure`` raises cattrs' own errors; use `Codec` to get `ProtocolError`.
    """
    converter = _WireConverter(forbid_extra_keys=True, detailed_validation=True)
    _hooks.register_hooks(converter)
    converter.wire_hooks = _fast.hook_snapshot(converter, _FAST_DEPENDENCIES)
    return converter


def _no_fast_path(_: Any) -> None:
    return None


def _has_original_hooks(converter: cattrs.Converter) -> bool:
    """Whether `converter` is one `make_converter` built, with none of its hooks replaced since."""
    recorded = getattr(converter, "wire_hooks", None)
    return (
        isinstance(converter, _WireConverter)
        and recorded is not None
        and recorded == _fast.hook_snapshot(converter, _FAST_DEPENDENCIES)
    )


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would let two parsers see two different documents; refuse it.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("repeated key")
    return result


def negotiate_version(
    offered: Iterable[int], supported: Iterable[int] = SUPPORTED_PROTOCOL_VERSIONS
) -> int:
    """Pick the highest protocol version both sides speak.

    Args:
        offered: The versions the peer speaks (``hello.protocol_versions``).
        supported: The versions this side speaks.

    Returns:
        The version to use.

    Raises:
        ProtocolError: ``unsupported_version`` when there is none in common.
    """
    common = set(offered) & set(supported)
    if not common:
        raise ProtocolError(
            Reason.UNSUPPORTED_VERSION,
            f"no common protocol version (this side speaks {sorted(set(supported))})",
        )
    return max(common)


def error_code_for(exc: ProtocolError) -> ErrorCode:
    """The error code to answer a protocol error with.

    Args:
        exc: The error.

    Returns:
        ``payload_too_large``, ``unsupported_version`` or ``bad_request``.
    """
    if exc.reason is Reason.TOO_LARGE:
        return ErrorCode.PAYLOAD_TOO_LARGE
    if exc.reason is Reason.UNSUPPORTED_VERSION:
        return ErrorCode.UNSUPPORTED_VERSION
    return ErrorCode.BAD_REQUEST


def error_response(exc: ProtocolError) -> http.ErrorResponse:
    """The HTTP error body for a protocol error (status: ``common.HTTP_STATUS[code]``).

    Args:
        exc: The error.

    Returns:
        ``{"error": {"code": ..., "message": ...}}`` with the error's reason in the message.
    """
    code = error_code_for(exc)
    return http.ErrorResponse(error=ErrorDetail(code=code, message=_clip(exc)))


def error_event(exc: ProtocolError, ref: str | None = None) -> ws.ErrorEvent:
    """The WebSocket ``error`` event for a protocol error.

    Args:
        exc: The error.
        ref: The client message id the error is about, if known.

    Returns:
        The event.
    """
    return ws.ErrorEvent(code=error_code_for(exc), message=_clip(exc), ref=ref)


def _clip(exc: ProtocolError) -> str:
    message = f"{exc.reason.value}: {exc.message}"
    return message[: limits.MAX_TEXT_CHARS]


class Codec:
    """JSON encoding and strict decoding of every surface, with one converter.

    Decoders raise `ProtocolError` and nothing else; encoders return JSON text (WebSocket, str),
    UTF-8 bytes (HTTP) or one NDJSON line (IPC, bytes ending in a newline). Output is deterministic:
    compact separators, ASCII only, fields in declaration order, every field present.

    With a converter from `make_converter` whose hooks were left as built, the hot WebSocket events
    (``channel.message.send`` and ``channel.message.new``) take generated fast paths for their
    canonical text; anything else, and every error, goes through the converter as usual, with the
    same results.

    Args:
        converter: The converter to use; `make_converter` by default.
    """

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self.converter = converter if converter is not None else make_converter()
        c = self.converter
        self._decode_json = json.JSONDecoder(
            object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        ).decode
        self._encode_json = json.JSONEncoder(
            ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False
        ).encode
        self._ws_client = c.get_structure_hook(ws.ClientEvent)
        self._ws_server = c.get_structure_hook(ws.ServerEvent)
        self._ipc_command = c.get_structure_hook(ipc.IpcCommand)
        self._ipc_event = c.get_structure_hook(ipc.IpcEvent)
        self._unstructure = c.unstructure
        self._fast_ws_client: _fast.FastDecoder = _no_fast_path
        self._fast_ws_server: _fast.FastDecoder = _no_fast_path
        self._fast_ws_encoders: dict[type, _fast.FastEncoder] = {}
        if _has_original_hooks(c):
            try:
                client = _fast.compile_fast_paths(c, _FAST_CLIENT_EVENT, limits.MAX_WS_FRAME_BYTES)
                server = _fast.compile_fast_paths(c, _FAST_SERVER_EVENT, limits.MAX_WS_FRAME_BYTES)
            except TypeError:
                # A field kind the generator does not handle (a test says so): generic path only.
                pass
            else:
                self._fast_ws_client, self._fast_ws_encoders[_FAST_CLIENT_EVENT] = client
                self._fast_ws_server, self._fast_ws_encoders[_FAST_SERVER_EVENT] = server

    # --- generic ---------------------------------------------------------------------------------

    def structure(self, value: Any, cls: type[T]) -> T:
        """Structure already-parsed JSON into `cls`.

        Args:
            value: Parsed JSON (dicts, lists, strings, numbers, booleans, None).
            cls: The wire type.

        Returns:
            The instance.

        Raises:
            ProtocolError: If `value` is not a valid `cls`.
        """
        try:
            return self.converter.structure(value, cls)
        except Exception as exc:
            raise _hooks.to_protocol_error(exc) from None

    def unstructure(self, value: Any) -> Any:
        """Unstructure a wire object into JSON-ready data.

        Args:
            value: An instance of a wire type.

        Returns:
            Dicts, lists, strings, numbers, booleans and None.
        """
        return self._unstructure(value)

    def _parse(self, data: str | bytes, max_bytes: int) -> Any:
        if len(data) > max_bytes:
            raise ProtocolError(Reason.TOO_LARGE, f"over {max_bytes} bytes")
        try:
            if not isinstance(data, str):
                data = bytes(data).decode()
            elif (
                len(data) * 4 > max_bytes and len(data.encode("utf-8", "surrogatepass")) > max_bytes
            ):
                raise ProtocolError(Reason.TOO_LARGE, f"over {max_bytes} bytes")
            return self._decode_json(data)
        except ProtocolError:
            raise
        except (ValueError, RecursionError) as exc:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors; deep nesting recurses.
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            raise ProtocolError(Reason.MALFORMED, f"not JSON ({detail})") from None

    def _decode(self, data: str | bytes, max_bytes: int, hook: Any, cls: Any) -> Any:
        value = self._parse(data, max_bytes)
        try:
            return hook(value, cls)
        except Exception as exc:
            raise _hooks.to_protocol_error(exc) from None

    def _encode(self, value: Any, max_bytes: int) -> str:
        try:
            text: str = self._encode_json(self._unstructure(value))
        except ValueError as exc:
            raise ProtocolError(Reason.BAD_VALUE, f"cannot encode: {exc}") from None
        if len(text) > max_bytes:
            raise ProtocolError(Reason.TOO_LARGE, f"encoded form over {max_bytes} bytes")
        return text

    # --- WebSocket -------------------------------------------------------------------------------

    def encode_ws(self, event: ws.ClientEvent | ws.ServerEvent) -> str:
        """Encode a WebSocket event as the text of one frame.

        Args:
            event: A client or server event.

        Returns:
            The JSON text (ASCII).

        Raises:
            TypeError: If `event` is not a WebSocket event.
            ProtocolError: ``too_large`` over `limits.MAX_WS_FRAME_BYTES`; ``bad_value`` for a
                naive datetime or a non-finite number.
        """
        cls = event.__class__
        if cls not in _WS_CLASSES:
            raise TypeError(f"{type(event).__name__} is not a WebSocket event")
        fast = self._fast_ws_encoders.get(cls)
        if fast is not None:
            text = fast(event)
            if text is not None and len(text) <= limits.MAX_WS_FRAME_BYTES:
                return text
        return self._encode(event, limits.MAX_WS_FRAME_BYTES)

    def decode_ws_client(self, data: str | bytes) -> ws.ClientEvent:
        """Decode a frame a client sent (the server's side).

        Args:
            data: The frame's text (or its UTF-8 bytes).

        Returns:
            The event.

        Raises:
            ProtocolError: On anything but a valid client event within the limits.
        """
        event: ws.ClientEvent | None = self._fast_ws_client(data)
        if event is None:
            event = self._decode(data, limits.MAX_WS_FRAME_BYTES, self._ws_client, ws.ClientEvent)
        return event

    def decode_ws_server(self, data: str | bytes) -> ws.ServerEvent:
        """Decode a frame a server sent (the client's side).

        Args:
            data: The frame's text (or its UTF-8 bytes).

        Returns:
            The event.

        Raises:
            ProtocolError: On anything but a valid server event within the limits.
        """
        event: ws.ServerEvent | None = self._fast_ws_server(data)
        if event is None:
            event = self._decode(data, limits.MAX_WS_FRAME_BYTES, self._ws_server, ws.ServerEvent)
        return event

    # --- HTTP ------------------------------------------------------------------------------------

    def encode_http(self, body: Any) -> bytes:
        """Encode an HTTP request or response body.

        Args:
            body: An instance of a type of `http.HTTP_TYPES`.

        Returns:
            UTF-8 JSON (``Content-Type: application/json``).

        Raises:
            TypeError: If `body` is not an attrs instance of the HTTP surface.
            ProtocolError: When the body is over its limit.
        """
        if body.__class__ not in _HTTP_CLASSES:
            raise TypeError(f"{type(body).__name__} is not an HTTP body")
        return self._encode(body, _http_limit(body.__class__)).encode()

    def decode_http(self, cls: type[T], data: str | bytes) -> T:
        """Decode an HTTP body as `cls`.

        Request types (`http.REQUEST_TYPES`) are held to `limits.MAX_HTTP_REQUEST_BYTES`, others to
        `limits.MAX_HTTP_RESPONSE_BYTES`.

        Args:
            cls: The body type the route expects.
            data: The body.

        Returns:
            The body.

        Raises:
            TypeError: If `cls` is not an HTTP type.
            ProtocolError: On anything but a valid `cls` within the limit.
        """
        if cls not in _HTTP_CLASSES:
            raise TypeError(f"{cls!r} is not an HTTP body type")
        hook = self.converter.get_structure_hook(cls)
        body: T = self._decode(data, _http_limit(cls), hook, cls)
        return body

    # --- IPC -------------------------------------------------------------------------------------

    def encode_ipc(self, message: ipc.IpcCommand | ipc.IpcEvent) -> bytes:
        """Encode an IPC command or event as one NDJSON line.

        Args:
            message: A command or event.

        Returns:
            UTF-8 JSON followed by ``\\n``.

        Raises:
            TypeError: If `message` is not an IPC message.
            ProtocolError: When the line is over `limits.MAX_IPC_LINE_BYTES`.
        """
        if message.__class__ not in _IPC_CLASSES:
            raise TypeError(f"{type(message).__name__} is not an IPC message")
        return self._encode(message, limits.MAX_IPC_LINE_BYTES).encode() + b"\n"

    def decode_ipc_command(self, line: str | bytes) -> ipc.IpcCommand:
        """Decode one line the TUI sent (the daemon's side).

        Args:
            line: One line, with or without its ``\\n``.

        Returns:
            The command.

        Raises:
            ProtocolError: On anything but a valid command within the limit.
        """
        command: ipc.IpcCommand = self._decode(
            _chomp(line), limits.MAX_IPC_LINE_BYTES, self._ipc_command, ipc.IpcCommand
        )
        return command

    def decode_ipc_event(self, line: str | bytes) -> ipc.IpcEvent:
        """Decode one line the daemon sent (the TUI's side).

        Args:
            line: One line, with or without its ``\\n``.

        Returns:
            The event.

        Raises:
            ProtocolError: On anything but a valid event within the limit.
        """
        event: ipc.IpcEvent = self._decode(
            _chomp(line), limits.MAX_IPC_LINE_BYTES, self._ipc_event, ipc.IpcEvent
        )
        return event


def _chomp(line: str | bytes) -> str | bytes:
    if isinstance(line, str):
        return line[:-1] if line.endswith("\n") else line
    return line[:-1] if line.endswith(b"\n") else line


def _http_limit(cls: type) -> int:
    if cls in http.REQUEST_TYPES:
        return limits.MAX_HTTP_REQUEST_BYTES
    return limits.MAX_HTTP_RESPONSE_BYTES


_HTTP_CLASSES: Final = frozenset(c for c in http.HTTP_TYPES if attrs.has(c))
