"""Dialtone protocol types (HTTP, WebSocket, IPC) as attrs classes with one cattrs converter.

Modules: `dialtone.wire.http` (``/v1`` bodies), `dialtone.wire.ws` (WebSocket events),
`dialtone.wire.ipc` (TUI <-> voice daemon), `dialtone.wire.common` (shared enums and structures),
`dialtone.wire.fields` (bounded field types), `dialtone.wire.limits` (size limits),
`dialtone.wire.testing` (Hypothesis strategies).
"""

from dialtone.wire._hooks import b64url_decode, b64url_encode, tag_of
from dialtone.wire.codec import (
    IPC_COMMAND_TAGS,
    IPC_EVENT_TAGS,
    WS_CLIENT_TAGS,
    WS_SERVER_TAGS,
    Codec,
    error_code_for,
    error_event,
    error_response,
    make_converter,
    negotiate_version,
)
from dialtone.wire.common import (
    HTTP_STATUS,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
    ErrorCode,
)
from dialtone.wire.errors import ProtocolError, Reason

__version__ = "0.1.0"

__all__ = [
    "HTTP_STATUS",
    "IPC_COMMAND_TAGS",
    "IPC_EVENT_TAGS",
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "WS_CLIENT_TAGS",
    "WS_SERVER_TAGS",
    "Codec",
    "ErrorCode",
    "ProtocolError",
    "Reason",
    "b64url_decode",
    "b64url_encode",
    "error_code_for",
    "error_event",
    "error_response",
    "make_converter",
    "negotiate_version",
    "tag_of",
]
