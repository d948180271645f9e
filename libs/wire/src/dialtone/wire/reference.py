"""The protocol reference, generated from the types: deterministic examples and Markdown tables.

``docs/protocol-wire.md`` embeds `render_markdown` between markers and
``libs/wire/tests/data/wire_examples.json`` holds `examples`; the tests check both are current, so
the written reference cannot drift from the code. Regenerate with
``python -m dialtone.wire.reference --update docs/protocol-wire.md`` and
``python -m dialtone.wire.reference --examples > libs/wire/tests/data/wire_examples.json``.
"""

import argparse
import enum
import hashlib
import json
import re
import sys
import types
import typing
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal, Union

import attrs

from dialtone.wire import common, http, ipc
from dialtone.wire.codec import (
    IPC_COMMAND_TAGS,
    IPC_EVENT_TAGS,
    WS_CLIENT_TAGS,
    WS_SERVER_TAGS,
    Codec,
)
from dialtone.wire.fields import UUID_REGEX, Blob, FloatRange, IntRange, Items, Pattern, Text

EXAMPLE_TIME: Final = datetime(2026, 5, 9, 7, 35, 25, 123456, tzinfo=UTC)
_NAMESPACE: Final = uuid.UUID("6f1d8d2e-3c1b-4d52-9a0e-5b7f4c2a9e10")

# Readable values for fields whose name says what they hold.
_TEXT_BY_NAME: Final[dict[str, str]] = {
    "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
    "candidate": "candidate:1 1 udp 2122252543 192.0.2.10 40000 typ host",
    "sdp_mid": "0",
    "client": "dialtone/0.1.0",
    "daemon": "dialtone-voiced/0.1.0",
    "server_version": "0.1.0",
    "username": "ann",
    "password": "correct horse battery staple",
    "code": "bad_request",
    "message": "missing_field: $.seq: required field missing",
    "reason": "server restarting",
    "note": "for Bob",
    "ptt_backend": "portal",
    "ptt_reason": "Wayland session: XDG portal GlobalShortcuts available",
    "input_device": "pulse",
    "output_device": "pulse",
    "urls": "turn:turn.example.org:3478?transport=udp",
    "credential": "k3J8mX1b0b2QnQmZq6lC2s0hJ4I=",
}
_INT_BY_NAME: Final[dict[str, int]] = {
    "seq": 42,
    "key_epoch": 3,
    "new_epoch": 4,
    "current_epoch": 3,
    "name_epoch": 3,
    "last_seq": 42,
    "read_seq": 40,
    "limit": 50,
    "protocol_version": 1,
    "protocol_versions": 1,
    "heartbeat_interval_ms": 20_000,
    "idle_timeout_ms": 60_000,
    "reconnect_after_ms": 1500,
    "ttl_seconds": 86_400,
    "stored": 2,
    "ping_id": 7,
}
_BLOB_SIZE: Final[dict[int, int]] = {128: 64, 64: 32}


def _example_bytes(name: str, size: int) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _example_uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def _example_bounded(base: Any, constraint: object, name: str) -> Any:
    if isinstance(constraint, Items):
        return (example_for(typing.get_args(base)[0], name),)
    if isinstance(constraint, Pattern):
        if constraint.regex == UUID_REGEX:
            return _example_uuid(name)
        if "msg_id" in name or "call_id" in name or name == "ref":
            return _example_uuid(name)
        return "dGhpcyBpcyBub3QgYSByZWFsIHRva2Vu"
    if isinstance(constraint, Text):
        text = _TEXT_BY_NAME.get(name, "example")
        return text if len(text) <= constraint.max_chars else text[: constraint.max_chars]
    if isinstance(constraint, Blob):
        return _example_bytes(name, _BLOB_SIZE.get(constraint.max_bytes, 44))
    if isinstance(constraint, IntRange):
        return max(constraint.lo, min(constraint.hi, _INT_BY_NAME.get(name, 3)))
    if isinstance(constraint, FloatRange):
        return max(constraint.lo, min(constraint.hi, -20.5))
    raise TypeError(f"no example for {base!r} bounded by {constraint!r}")


def example_for(type_: Any, name: str = "") -> Any:
    """Return a deterministic example value of a protocol type or field type.

    Args:
        type_: An attrs class of the protocol or a field type.
        name: The field's name, which picks readable values (``sdp``, ``seq``...).

    Returns:
        The example; optional fields are filled in, to show their shape.

    Raises:
        TypeError: For a type the protocol does not use.
    """
    origin = typing.get_origin(type_)
    if origin is typing.Annotated:
        base, constraint = typing.get_args(type_)[:2]
        return _example_bounded(base, constraint, name)
    if origin is Union or origin is types.UnionType:
        first = next(a for a in typing.get_args(type_) if a is not type(None))
        return example_for(first, name)
    if origin is Literal:
        return typing.get_args(type_)[0]
    if type_ is bool:
        return name not in ("muted", "deafened", "relay_only", "fatal", "has_more")
    if type_ is datetime:
        return EXAMPLE_TIME
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return next(iter(type_))
    if isinstance(type_, type) and attrs.has(type_):
        hints = typing.get_type_hints(type_, include_extras=True)
        return type_(**{a.name: example_for(hints[a.name], a.name) for a in attrs.fields(type_)})
    raise TypeError(f"no example for {type_!r}")


def examples(codec: Codec) -> dict[str, dict[str, str]]:
    """Encode one example of every event, command and HTTP body.

    Args:
        codec: The codec to encode with.

    Returns:
        ``{"ws_client"|"ws_server"|"ipc_command"|"ipc_event": {tag: text},
        "http": {type name: text}}``.
    """
    result: dict[str, dict[str, str]] = {}
    for key, table in (
        ("ws_client", WS_CLIENT_TAGS),
        ("ws_server", WS_SERVER_TAGS),
        ("ipc_command", IPC_COMMAND_TAGS),
        ("ipc_event", IPC_EVENT_TAGS),
    ):
        encode = codec.encode_ws if key.startswith("ws") else codec.encode_ipc
        result[key] = {}
        for tag, cls in table.items():
            encoded = encode(example_for(cls))
            text = encoded.decode().rstrip("\n") if isinstance(encoded, bytes) else encoded
            result[key][tag] = text
    result["http"] = {
        cls.__name__: codec.encode_http(example_for(cls)).decode()
        for cls in http.HTTP_TYPES
        if attrs.has(cls)
    }
    return result


# --- Markdown ------------------------------------------------------------------------------------


def _describe(type_: Any) -> str:
    origin = typing.get_origin(type_)
    if origin is typing.Annotated:
        base, c = typing.get_args(type_)[:2]
        if isinstance(c, Items):
            inner = _describe(typing.get_args(base)[0])
            return f"array ({c.min_items}..{c.max_items}) of {inner}"
        if isinstance(c, Pattern):
            return f"string: {c.description}"
        if isinstance(c, Text):
            return f"string, {c.min_chars}..{c.max_chars} chars"
        if isinstance(c, Blob):
            return f"bytes as base64url, {c.min_bytes}..{c.max_bytes} bytes"
        if isinstance(c, IntRange):
            return f"integer {c.lo}..{c.hi}"
        if isinstance(c, FloatRange):
            return f"number {c.lo:g}..{c.hi:g}"
    if origin is Union or origin is types.UnionType:
        first = next(a for a in typing.get_args(type_) if a is not type(None))
        return f"{_describe(first)}, or null"
    if origin is Literal:
        return f'`"{typing.get_args(type_)[0]}"`'
    if type_ is bool:
        return "boolean"
    if type_ is datetime:
        return "timestamp"
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return "string: " + " \\| ".join(f"`{m.value}`" for m in type_)
    if isinstance(type_, type) and attrs.has(type_):
        return f"object [{type_.__name__}](#{type_.__name__.lower()})"
    raise TypeError(f"cannot describe {type_!r}")


def _attribute_docs(cls: type) -> dict[str, str]:
    doc = cls.__doc__ or ""
    docs: dict[str, str] = {}
    in_attributes = False
    current = ""
    for raw in doc.splitlines():
        line = raw.strip()
        if line == "Attributes:":
            in_attributes = True
            continue
        if not in_attributes or not line:
            continue
        match = re.fullmatch(r"(\w+): (.*)", line)
        if match and match.group(1) in attrs.fields_dict(cls):
            current = match.group(1)
            docs[current] = match.group(2)
        elif current:
            docs[current] += " " + line
    return docs


def _summary(cls: type) -> str:
    doc = cls.__doc__ or ""
    paragraph = doc.strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _type_section(cls: type, heading: str, example: str | None) -> list[str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    notes = _attribute_docs(cls)
    lines = [f"#### {heading}", "", _summary(cls), ""]
    fields = [a for a in attrs.fields(cls) if a.name != "type"]
    if fields:
        lines += ["| field | JSON | required | meaning |", "| --- | --- | --- | --- |"]
        for a in fields:
            if a.default is attrs.NOTHING:
                required = "yes"
            else:
                default = a.default.value if isinstance(a.default, enum.Enum) else a.default
                if isinstance(default, tuple):
                    default = list(default)
                required = f"no, default `{json.dumps(default)}`"
            meaning = notes.get(a.name, "").replace("|", "\\|")
            lines.append(f"| `{a.name}` | {_describe(hints[a.name])} | {required} | {meaning} |")
        lines.append("")
    if example is not None:
        lines += ["```json", example, "```", ""]
    return lines


def _surface(
    title: str, intro: str, table: typing.Mapping[str, type], texts: dict[str, str]
) -> list[str]:
    lines = [f"### {title}", "", intro, ""]
    for tag, cls in table.items():
        lines += _type_section(cls, f"`{tag}` ({cls.__name__})", texts[tag])
    return lines


def render_markdown(codec: Codec | None = None) -> str:
    """Render the generated reference: every event, command and body with fields and examples.

    Args:
        codec: The codec to encode examples with; a new one by default.

    Returns:
        Markdown text.
    """
    codec = codec or Codec()
    encoded = examples(codec)
    lines = ["## Reference (generated from the types)", ""]
    lines += _surface(
        "WebSocket, client to server",
        "Decoded by `Codec.decode_ws_client`.",
        WS_CLIENT_TAGS,
        encoded["ws_client"],
    )
    lines += _surface(
        "WebSocket, server to client",
        "Decoded by `Codec.decode_ws_server`.",
        WS_SERVER_TAGS,
        encoded["ws_server"],
    )
    lines += _surface(
        "IPC, TUI to daemon",
        "Decoded by `Codec.decode_ipc_command`; each example is one line.",
        IPC_COMMAND_TAGS,
        encoded["ipc_command"],
    )
    lines += _surface(
        "IPC, daemon to TUI",
        "Decoded by `Codec.decode_ipc_event`; each example is one line.",
        IPC_EVENT_TAGS,
        encoded["ipc_event"],
    )
    lines += ["### HTTP routes", "", "| method | path | auth | request body | success body |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for route in http.ROUTES:
        request = (
            f"[{route.request.__name__}](#{route.request.__name__.lower()})"
            if route.request
            else "-"
        )
        response = (
            f"[{route.response.__name__}](#{route.response.__name__.lower()})"
            if route.response
            else "`204`"
        )
        lines.append(f"| {route.method} | `{route.path}` | {route.auth} | {request} | {response} |")
    lines += ["", "### HTTP bodies and shared objects", ""]
    for cls in http.HTTP_TYPES:
        lines += _type_section(cls, cls.__name__, encoded["http"][cls.__name__])
    nested = [common.VoiceParticipant, ipc.VoiceMember, ipc.PeerStats]
    lines += ["### Objects inside events", ""]
    for cls in nested:
        lines += _type_section(cls, cls.__name__, None)
    return "\n".join(lines).rstrip() + "\n"


DOC_BEGIN: Final = "<!-- BEGIN GENERATED REFERENCE: python -m dialtone.wire.reference -->\n"
DOC_END: Final = "<!-- END GENERATED REFERENCE -->"


def splice_into(document: str, codec: Codec | None = None) -> str:
    """Replace the generated section of a Markdown document with a fresh rendering.

    Args:
        document: The document, holding `DOC_BEGIN` and `DOC_END` markers.
        codec: The codec to encode examples with.

    Returns:
        The document with the section between the markers regenerated.

    Raises:
        ValueError: If the markers are missing.
    """
    if DOC_BEGIN not in document or DOC_END not in document:
        raise ValueError("the document has no generated-reference markers")
    head, rest = document.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    return head + DOC_BEGIN + render_markdown(codec) + DOC_END + tail


def _main() -> None:
    parser = argparse.ArgumentParser(description="Print the generated protocol reference.")
    parser.add_argument(
        "--examples", action="store_true", help="print the example encodings as JSON instead"
    )
    parser.add_argument(
        "--update", metavar="DOC", help="regenerate the marked section of DOC in place"
    )
    args = parser.parse_args()
    if args.update:
        with open(args.update, encoding="utf-8") as handle:
            updated = splice_into(handle.read())
        with open(args.update, "w", encoding="utf-8") as handle:
            handle.write(updated)
        return
    if args.examples:
        text = json.dumps(examples(Codec()), indent=2, ensure_ascii=True) + "\n"
    else:
        text = render_markdown()
    sys.stdout.write(text)


if __name__ == "__main__":
    _main()
