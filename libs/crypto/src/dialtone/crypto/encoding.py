"""Stable text encodings of binary values, and the identifier rules shared by every structure.

Public key material, sealed fields and signatures travel in JSON as base64url without padding
(RFC 4648 section 5). Decoding is strict: padding, characters outside the alphabet and
non-canonical trailing bits are all rejected, so every value has exactly one text form.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable

__all__ = [
    "MAX_ID_LENGTH",
    "RandomSource",
    "b64url_decode",
    "b64url_encode",
    "check_id",
    "default_random",
]

#: A source of randomness: called with a byte count, returns that many unpredictable bytes.
#: Every function that draws randomness takes one, so tests can make outputs deterministic.
RandomSource = Callable[[int], bytes]

#: The default `RandomSource`: the operating system's CSPRNG.
default_random: RandomSource = os.urandom

#: Longest identifier (channel id, message id, device id), in bytes.
MAX_ID_LENGTH = 128

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding.

    Args:
        data: The bytes to encode.

    Returns:
        The ASCII text form.

    Raises:
        TypeError: `data` is not bytes.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, length: int | None = None) -> bytes:
    """Decode strict base64url without padding.

    Args:
        text: The text form, as produced by `b64url_encode`.
        length: If given, the exact number of bytes the value must decode to.

    Returns:
        The decoded bytes.

    Raises:
        TypeError: `text` is not a str.
        ValueError: `text` is not canonical unpadded base64url, or decodes to the wrong length.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the regex above admits only valid input
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url (stray trailing bits)")
    if length is not None and len(data) != length:
        raise ValueError(f"expected {length} bytes, got {len(data)}")
    return data


def check_id(value: object, what: str) -> bytes:
    """Check an identifier and return its encoded form.

    Identifiers (channel ids, message ids, device ids) are 1 to `MAX_ID_LENGTH` printable ASCII
    characters without spaces (0x21-0x7E), so they have a single byte encoding in every language.

    Args:
        value: The identifier.
        what: Its name, for the error message.

    Returns:
        The identifier's ASCII bytes.

    Raises:
        TypeError: `value` is not a str.
        ValueError: It is empty, too long, or has a character outside 0x21-0x7E.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise ValueError(f"{what} must be 1 to {MAX_ID_LENGTH} characters")
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise ValueError(f"{what} must be printable ASCII without spaces")
    return value.encode("ascii")
