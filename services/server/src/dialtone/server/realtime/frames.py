"""WebSocket frames built once per event and written as-is to every recipient.

A fan-out to N connections would otherwise pay N times for the JSON encoding and N times for
the frame header and the payload copy that `send_str` makes. Server-to-client frames are never
masked (RFC 6455 section 5.1) and the server never negotiates compression, so one byte string is
a complete, valid frame for every connection.
"""

from __future__ import annotations

import struct
from typing import Final

_FIN_TEXT: Final = 0x81
_LEN16: Final = struct.Struct("!BBH")
_LEN64: Final = struct.Struct("!BBQ")
_SHORT_MAX: Final = 125
_MEDIUM_MAX: Final = 0xFFFF


def text_frame(payload: bytes) -> bytes:
    """Return one unfragmented, unmasked WebSocket text frame carrying `payload`.

    Args:
        payload: UTF-8 encoded text (the caller guarantees it is valid UTF-8).

    Returns:
        The frame: header (2, 4 or 10 bytes) followed by the payload.
    """
    size = len(payload)
    if size <= _SHORT_MAX:
        return bytes((_FIN_TEXT, size)) + payload
    if size <= _MEDIUM_MAX:
        return _LEN16.pack(_FIN_TEXT, 126, size) + payload
    return _LEN64.pack(_FIN_TEXT, 127, size) + payload
