"""Out-of-band verification: per-device fingerprints and per-pair-of-users safety numbers.

A fingerprint (`PublicBundle.fingerprint`) names one device's keys in 32 base32 characters. A
safety number names the device keys of two users at once, in 60 digits that both users see
identically (the two halves are sorted, so argument order does not matter). If the numbers two
people read to each other match, neither's server substituted keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from dialtone.crypto.identity import PublicBundle

__all__ = ["SAFETY_NUMBER_DIGITS", "fingerprint", "safety_number", "safety_number_half"]

#: Digits in a safety number (two halves of 30, shown in groups of 5).
SAFETY_NUMBER_DIGITS: Final = 60

_SAFETY_LABEL: Final = b"dialtone/v1/safety-number\x00"
_MAX_USER_ID_BYTES: Final = 255
_MAX_DEVICES: Final = 65535


def fingerprint(bundle: PublicBundle) -> str:
    """A device's printable fingerprint, e.g. ``"K5QW 2Y3C ... 7Q2A"`` (8 groups of 4)."""
    if not isinstance(bundle, PublicBundle):
        raise TypeError("bundle must be a PublicBundle")
    return bundle.fingerprint


def safety_number_half(user_id: str, devices: Iterable[PublicBundle]) -> str:
    """The 30 digits one user contributes to a safety number.

    SHA-512 over: label || user id length (1) || user id (UTF-8) || device count (2, big-endian)
    || each device's Ed25519 key || X25519 key, sorted bytewise (duplicates removed). The first 30
    bytes of the digest, in six 5-byte big-endian chunks, each taken mod 100000 as 5 digits.

    Args:
        user_id: The user's stable identifier (the normalized username, say), 1-255 UTF-8 bytes.
        devices: The user's device bundles; at least one.

    Raises:
        TypeError: Wrong argument types.
        ValueError: An empty or too-long user id, or no devices.
    """
    if not isinstance(user_id, str):
        raise TypeError("user_id must be a str")
    uid = user_id.encode("utf-8")
    if not 0 < len(uid) <= _MAX_USER_ID_BYTES:
        raise ValueError(f"user_id must be 1 to {_MAX_USER_ID_BYTES} UTF-8 bytes")
    keys: set[bytes] = set()
    for bundle in devices:
        if not isinstance(bundle, PublicBundle):
            raise TypeError("devices must be PublicBundle objects")
        keys.add(bundle.ed25519_public + bundle.x25519_public)
    if not 0 < len(keys) <= _MAX_DEVICES:
        raise ValueError("a safety number needs 1 to 65535 devices per user")
    digest = hashlib.sha512(
        b"".join(
            (_SAFETY_LABEL, bytes((len(uid),)), uid, len(keys).to_bytes(2, "big"), *sorted(keys))
        )
    ).digest()
    return "".join(
        f"{int.from_bytes(digest[at : at + 5], 'big') % 100000:05d}" for at in range(0, 30, 5)
    )


def safety_number(
    user_a: str,
    devices_a: Iterable[PublicBundle],
    user_b: str,
    devices_b: Iterable[PublicBundle],
) -> str:
    """The safety number of two users: 60 digits in 12 groups of 5, the same for either order.

    Args:
        user_a: One user's identifier.
        devices_a: That user's device bundles.
        user_b: The other user's identifier.
        devices_b: That user's device bundles.

    Returns:
        For example ``"12345 67890 ... 24680"``.

    Raises:
        TypeError, ValueError: As `safety_number_half`.
    """
    halves = sorted((safety_number_half(user_a, devices_a), safety_number_half(user_b, devices_b)))
    digits = halves[0] + halves[1]
    return " ".join(digits[at : at + 5] for at in range(0, SAFETY_NUMBER_DIGITS, 5))
