"""The OpenAPI 3 document of the /v1 API, generated from `dialtone.wire.http`.

The route table (`dialtone.wire.http.ROUTES`) and the attrs body types are the source of truth;
this module turns them into an OpenAPI 3.0 document: one path item per route, one schema per
body type (bounds from the `Annotated` metadata become `minLength`, `maximum`, `pattern`...).
`docs/openapi.yaml` is its output, and a test keeps the two identical and checks that every route
the application serves is documented and every documented route is served.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from datetime import datetime
from typing import Any, Final, Literal, Union

import attrs

from dialtone.server import __version__
from dialtone.wire import HTTP_STATUS, ErrorCode, limits
from dialtone.wire import http as wire_http
from dialtone.wire.fields import Blob, FloatRange, IntRange, Items, Pattern, Text

# Routes the server serves besides the JSON API of `wire_http.ROUTES`.
_EXTRA_ROUTES: Final = (
    ("GET", "/v1/ws", "The realtime WebSocket (events of dialtone.wire.ws).", "session"),
    ("GET", "/v1/openapi.json", "This document as JSON.", "none"),
    ("GET", "/v1/openapi.yaml", "This document as YAML.", "none"),
)

# Status of a successful answer with a body; creations answer 201, bodiless answers 204.
_CREATED: Final = frozenset(
    {
        ("POST", "/v1/register"),
        ("POST", "/v1/devices"),
        ("POST", "/v1/invites"),
        ("POST", "/v1/channels"),
        ("POST", "/v1/channels/{channel_id}/members"),
    }
)

# What a route does besides its answer, where a client must know it (effects on live sockets).
_DESCRIPTIONS: Final = {
    ("POST", "/v1/logout"): (
        "Ends the caller's session. Its open /v1/ws connections are closed at once with close "
        "code 4001 (log in again); other sessions stay connected."
    ),
    ("DELETE", "/v1/sessions/{session_id}"): (
        "Ends one of the caller's sessions. Its open /v1/ws connections are closed at once with "
        "close code 4001."
    ),
    ("DELETE", "/v1/devices/{device_id}"): (
        "Revokes one of the caller's devices and ends its sessions. Its open /v1/ws connections "
        "receive device.revoked, then close code 4005."
    ),
}
_HISTORY_QUERY: Final = (
    ("before", "Exclusive upper bound on seq.", 0, limits.MAX_SAFE_INT),
    (
        "after",
        "Exclusive lower bound on seq (catch-up since a sequence number).",
        0,
        limits.MAX_SAFE_INT,
    ),
    ("limit", f"Page size (default {limits.DEFAULT_HISTORY_LIMIT}).", 1, limits.MAX_HISTORY_LIMIT),
)


def build_document() -> dict[str, Any]:
    """Return the OpenAPI document as JSON-ready data.

    Returns:
        The document (deterministic: same input, same output).
    """
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in wire_http.ROUTES:
        operation = _operation(route, schemas)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    for method, path, summary, auth in _EXTRA_ROUTES:
        paths.setdefault(path, {})[method.lower()] = _extra_operation(path, summary, auth)
    _schema_ref(wire_http.ErrorResponse, schemas)
    for path, item in paths.items():
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{([a-z_]+)}", path)
        ]
        for operation in item.values():
            if parameters:
                operation["parameters"] = parameters + operation.get("parameters", [])
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Dialtone server API",
            "version": __version__,
            "description": (
                "HTTP API of dialtone-server. Bodies are JSON; byte fields are base64url without "
                "padding; timestamps are RFC 3339 UTC. The server stores and routes only "
                'ciphertext. Errors are {"error": {"code", "message"}} with the codes of '
                "the ErrorCode enum."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer"},
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's admin token, or the session of a server admin.",
                },
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


def document_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Return the `(METHOD, path)` pairs a document describes.

    Args:
        document: An OpenAPI document.

    Returns:
        The routes.
    """
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }


def _error_responses(codes: list[ErrorCode]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code in codes:
        status = str(HTTP_STATUS[code])
        entry = responses.setdefault(
            status,
            {
                "description": "",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                },
            },
        )
        described = entry["description"]
        entry["description"] = f"{described}, {code.value}" if described else code.value
    return responses


def _errors_for(auth: str, has_body: bool, has_path_id: bool) -> list[ErrorCode]:
    codes = [ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL_ERROR]
    if has_body:
        codes += [ErrorCode.BAD_REQUEST, ErrorCode.PAYLOAD_TOO_LARGE]
    if auth != "none":
        codes += [ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN]
    if has_path_id:
        codes.append(ErrorCode.NOT_FOUND)
    return sorted(set(codes), key=lambda code: (HTTP_STATUS[code], code.value))


def _operation(route: wire_http.Route, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route.method, route.path),
        "summary": _summary(route),
    }
    description = _DESCRIPTIONS.get((route.method, route.path))
    if description is not None:
        operation["description"] = description
    if route.auth == "admin":
        operation["security"] = [{"admin": []}]
    elif route.auth in {"session", "pending"}:
        operation["security"] = [{"session": []}]
    else:
        operation["security"] = []
    if route.path.endswith("/messages"):
        operation["parameters"] = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": {"type": "integer", "minimum": minimum, "maximum": maximum},
            }
            for name, description, minimum, maximum in _HISTORY_QUERY
        ]
    elif route.path.endswith("/envelopes") and route.method == "GET" and "{" in route.path:
        operation["parameters"] = [
            {
                "name": "epoch",
                "in": "query",
                "required": False,
                "description": "Only envelopes of this key epoch.",
                "schema": {"type": "integer", "minimum": 0, "maximum": limits.MAX_EPOCH},
            }
        ]
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(route.request, schemas)}},
        }
    responses: dict[str, Any] = {}
    if route.response is None:
        responses["204"] = {"description": "Done; no body."}
    else:
        status = "201" if (route.method, route.path) in _CREATED else "200"
        responses[status] = {
            "description": route.response.__name__,
            "content": {"application/json": {"schema": _schema_ref(route.response, schemas)}},
        }
    responses.update(
        _error_responses(_errors_for(route.auth, route.request is not None, "{" in route.path))
    )
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _extra_operation(path: str, summary: str, auth: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id("GET", path),
        "summary": summary,
        "security": [{"session": []}] if auth == "session" else [],
    }
    if path == "/v1/ws":
        operation["responses"] = {
            "101": {"description": "Switching protocols: the WebSocket is open."},
            **_error_responses(
                [ErrorCode.UNAUTHORIZED, ErrorCode.DEVICE_PENDING, ErrorCode.UNAVAILABLE]
            ),
        }
    else:
        media = "application/json" if path.endswith(".json") else "application/yaml"
        operation["responses"] = {
            "200": {"description": "The document.", "content": {media: {"schema": {}}}}
        }
    return operation


def _operation_id(method: str, path: str) -> str:
    words = [part.strip("{}") for part in path.removeprefix("/v1/").split("/") if part]
    return method.lower() + "".join(
        word.title().replace("_", "").replace(".", "") for word in words
    )


def _summary(route: wire_http.Route) -> str:
    # The wire types' first doc line names their route, e.g. "``POST /v1/register``: ...".
    for cls in (route.request, route.response):
        first = (cls.__doc__ or "").strip().split("\n")[0] if cls is not None else ""
        if f"{route.method} {route.path}" in first:
            return first.replace("``", "")
    return f"{route.method} {route.path}"


def _schema_ref(cls: type, schemas: dict[str, Any]) -> dict[str, Any]:
    name = cls.__name__
    if name not in schemas:
        schemas[name] = {}  # placeholder against recursion
        schemas[name] = _object_schema(cls, schemas)
    return {"$ref": f"#/components/schemas/{name}"}


def _object_schema(cls: type, schemas: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        properties[field.name] = _type_schema(hints[field.name], schemas)
        if field.default is attrs.NOTHING:
            required.append(field.name)
        elif isinstance(field.default, enum.Enum):
            properties[field.name]["default"] = field.default.value
        elif isinstance(field.default, str | int | bool) or field.default is None:
            properties[field.name]["default"] = field.default
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc:
        schema["description"] = doc[0]
    return schema


def _type_schema(annotation: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        schema = _type_schema(base, schemas)
        for item in metadata:
            schema.update(_constraint(item))
        return schema
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        schema = (
            _type_schema(members[0], schemas)
            if len(members) == 1
            else {"oneOf": [_type_schema(member, schemas) for member in members]}
        )
        if "$ref" in schema:
            return {"allOf": [schema], "nullable": True}
        return {**schema, "nullable": True}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(typing.get_args(annotation)[0], schemas)}
    if origin is Literal:
        values = list(typing.get_args(annotation))
        return {"type": "string", "enum": values}
    if isinstance(annotation, type):
        return _class_schema(annotation, schemas)
    raise TypeError(f"no schema for {annotation!r}")


def _class_schema(cls: type, schemas: dict[str, Any]) -> dict[str, Any]:
    if attrs.has(cls):
        return _schema_ref(cls, schemas)
    if issubclass(cls, enum.Enum):
        return {"type": "string", "enum": [member.value for member in cls]}
    if cls is bool:
        return {"type": "boolean"}
    if cls is int:
        return {"type": "integer"}
    if cls is float:
        return {"type": "number"}
    if cls is str:
        return {"type": "string"}
    if cls is bytes:
        return {"type": "string", "format": "base64url"}
    if cls is datetime:
        return {"type": "string", "format": "date-time"}
    raise TypeError(f"no schema for {cls!r}")


def _constraint(item: object) -> dict[str, Any]:
    if isinstance(item, Text):
        return {"minLength": item.min_chars, "maxLength": item.max_chars}
    if isinstance(item, Pattern):
        return {"pattern": f"^{item.regex}$", "description": item.description}
    if isinstance(item, Blob):
        # base64url of n bytes is ceil(4n/3) characters.
        return {
            "minLength": -(-4 * item.min_bytes // 3),
            "maxLength": -(-4 * item.max_bytes // 3),
        }
    if isinstance(item, IntRange):
        return {"minimum": item.lo, "maximum": item.hi}
    if isinstance(item, FloatRange):
        return {"minimum": item.lo, "maximum": item.hi}
    if isinstance(item, Items):
        return {"minItems": item.min_items, "maxItems": item.max_items}
    return {}


def to_json(document: dict[str, Any]) -> str:
    """Render a document as JSON text.

    Args:
        document: JSON-ready data.

    Returns:
        Indented JSON.
    """
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_yaml(document: Any) -> str:
    """Render JSON-ready data as block-style YAML (strings double-quoted, so always valid).

    Args:
        document: Dicts, lists, strings, numbers, booleans and None.

    Returns:
        The YAML text.
    """
    lines: list[str] = []
    _yaml_lines(document, 0, lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_lines(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            label = f"{pad}{json.dumps(str(key))}:"
            if isinstance(item, dict | list) and item:
                lines.append(label)
                _yaml_lines(item, indent + 2, lines)
            else:
                lines.append(f"{label} {_empty_or_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                nested: list[str] = []
                _yaml_lines(item, indent + 2, nested)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)
