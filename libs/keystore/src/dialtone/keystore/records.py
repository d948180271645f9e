"""The values a keystore holds: device keys, pinned devices, and the validators they share.

The keystore stores bytes and strings; it does not interpret keys (that is dialtone.crypto's job),
it only checks types and sizes so that garbage never reaches the disk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

#: Size of every private key and symmetric key the keystore holds (X25519, Ed25519, AES-256).
KEY_SIZE = 32
#: Longest identifier (server, channel, user, device id) accepted, in characters.
MAX_ID_LENGTH = 1024
#: Longest fingerprint accepted, in bytes.
MAX_FINGERPRINT_SIZE = 1024
#: Epochs and timestamps stay below 2**53 so that every JSON reader, including JavaScript's,
#: reads them exactly.
MAX_INTEGER = (1 << 53) - 1


class Trust(enum.StrEnum):
    """How far a pinned device fingerprint is trusted."""

    #: Pinned the first time it was seen (trust on first use), not checked out of band.
    FIRST_SEEN = "first-seen"
    #: The user compared fingerprints or safety numbers out of band.
    VERIFIED = "verified"


def check_id(value: object, what: str) -> str:
    """Validate an identifier: a non-empty str of at most MAX_ID_LENGTH characters.

    Raises:
        TypeError: not a str.
        ValueError: empty, too long, or not encodable as UTF-8.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must have 1..{MAX_ID_LENGTH} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode text") from exc
    return value


def check_integer(value: object, what: str) -> int:
    """Validate an epoch or timestamp: an int in 0..MAX_INTEGER.

    Raises:
        TypeError: not an int (bool is refused too).
        ValueError: out of range.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_INTEGER:
        raise ValueError(f"{what} must be in 0..2**53-1, got {value}")
    return value


def check_key(value: object, what: str) -> bytes:
    """Validate a 32-byte key.

    Raises:
        TypeError: not bytes.
        ValueError: not exactly KEY_SIZE bytes.
    """
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(value)}")
    return value


def check_fingerprint(value: object, what: str = "fingerprint") -> bytes:
    """Validate a fingerprint: non-empty bytes of at most MAX_FINGERPRINT_SIZE.

    Raises:
        TypeError: not bytes.
        ValueError: empty or too long.
    """
    if not isinstance(value, bytes):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_FINGERPRINT_SIZE:
        raise ValueError(f"{what} must be 1..{MAX_FINGERPRINT_SIZE} bytes")
    return value


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """This device's identity: its id and its two raw 32-byte private keys.

    Args:
        device_id: the device id the server assigned (or the client chose).
        x25519_private: raw X25519 private key (envelopes).
        ed25519_private: raw Ed25519 private key seed (signatures).

    Raises:
        TypeError: a field has the wrong type.
        ValueError: the id is empty or too long, or a key is not 32 bytes.
    """

    device_id: str
    # repr=False keeps private keys out of logs and tracebacks.
    x25519_private: bytes = field(repr=False)
    ed25519_private: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_id(self.device_id, "device_id")
        check_key(self.x25519_private, "x25519_private")
        check_key(self.ed25519_private, "ed25519_private")


@dataclass(frozen=True, slots=True)
class PinnedDevice:
    """The pinned fingerprint of another user's device and how far it is trusted.

    Attributes:
        server: the server the user belongs to.
        user_id: the user's id.
        device_id: the device's id.
        fingerprint: the pinned fingerprint, compared byte for byte.
        trust: first-seen (TOFU) or verified.
        first_seen: when this fingerprint was first pinned (Unix seconds).
        verified_at: when the user verified it (Unix seconds), or None.
        previous_fingerprint: the fingerprint this one replaced, or None if the device's
            fingerprint never changed. A value here means "warn the user".

    Raises:
        TypeError: a field has the wrong type.
        ValueError: a field is out of range.
    """

    server: str
    user_id: str
    device_id: str
    fingerprint: bytes
    trust: Trust
    first_seen: int
    verified_at: int | None = None
    previous_fingerprint: bytes | None = None

    def __post_init__(self) -> None:
        check_id(self.server, "server")
        check_id(self.user_id, "user_id")
        check_id(self.device_id, "device_id")
        check_fingerprint(self.fingerprint)
        if not isinstance(self.trust, Trust):
            raise TypeError("trust must be a Trust")
        check_integer(self.first_seen, "first_seen")
        if self.verified_at is not None:
            check_integer(self.verified_at, "verified_at")
        if (self.trust is Trust.VERIFIED) != (self.verified_at is not None):
            raise ValueError("verified_at is set exactly when trust is VERIFIED")
        if self.previous_fingerprint is not None:
            check_fingerprint(self.previous_fingerprint, "previous_fingerprint")

    @property
    def verified(self) -> bool:
        """Whether the user verified this fingerprint out of band."""
        return self.trust is Trust.VERIFIED
