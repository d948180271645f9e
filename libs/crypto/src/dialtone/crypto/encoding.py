"""Stable text encodings of binary values, and the identifier rules shared by every structure.

Public key material, sealed fields and signatures travel in JSON as base64url without padding
(RFC 4648 section 5). Decoding is strict: padding, characters outside the alphabet and
non-canonical trailing bits are all rejected, so every value has exactly one text form.
"""

from __future__ import annotations

import binascii
import os
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

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
# The last character of a text whose length is 2 or 3 mod 4 carries 4 or 2 unused bits; in the
# canonical form they are zero, which leaves these characters.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


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
    encoded = binascii.b2a_base64(data, newline=False).rstrip(b"=")
    return encoded.translate(_TO_URLSAFE).decode("ascii")


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
    # "+", "/" and "=" would survive the translation below; strict mode refuses everything else
    # outside the alphabet.
    if len(text) % 4 == 1 or "+" in text or "/" in text or "=" in text or not text.isascii():
        raise ValueError("not unpadded base64url")
    padded = (text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE)
    try:
        data = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    tail = len(text) % 4
    if tail and text[-1] not in _CANONICAL_LAST[tail]:
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
