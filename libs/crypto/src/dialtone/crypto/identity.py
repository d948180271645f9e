"""Device identities: an Ed25519 key for signatures and an X25519 key for envelopes.

A device publishes a `PublicBundle`: both public keys and an Ed25519 signature by the device over
its X25519 key. The device id and the fingerprint are derived from the two public keys, so a
server cannot pair an id with other keys without clients noticing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any, Final

from dialtone.crypto.encoding import (
    RandomSource,
    b64url_decode,
    b64url_encode,
    check_id,
    default_random,
)
from dialtone.crypto.primitives import (
    ED25519_PUBLIC_LENGTH,
    ED25519_SEED_LENGTH,
    ED25519_SIGNATURE_LENGTH,
    X25519_KEY_LENGTH,
    ExchangeKey,
    SigningKey,
    VerifyKey,
    check_x25519_public,
)

__all__ = [
    "FORMAT_VERSION",
    "DeviceIdentity",
    "PublicBundle",
    "approve_device",
    "bundle_signing_input",
    "derive_device_id",
    "derive_fingerprint",
    "device_approval_input",
    "verify_device_approval",
]

#: The protocol's format version, the first byte of every versioned structure.
FORMAT_VERSION: Final = 1

_BUNDLE_LABEL = b"dialtone/v1/device\x00"
_DEVICE_ID_LABEL = b"dialtone/v1/device-id\x00"
_FINGERPRINT_LABEL = b"dialtone/v1/fingerprint\x00"
_APPROVAL_LABEL = b"dialtone/v1/device-approval\x00"
_DEVICE_ID_BYTES = 16
_FINGERPRINT_BYTES = 20
_BUNDLE_KEYS = frozenset({"device_id", "ed25519", "x25519", "signature"})


def bundle_signing_input(ed25519_public: bytes, x25519_public: bytes) -> bytes:
    """The bytes a device signs to vouch for its X25519 key."""
    return _BUNDLE_LABEL + bytes((FORMAT_VERSION,)) + ed25519_public + x25519_public


def derive_device_id(ed25519_public: bytes, x25519_public: bytes) -> str:
    """The device id: a lowercase RFC 9562 version-8 UUID made of the first 16 bytes of
    SHA-256(label || Ed25519 || X25519), with the version and variant bits set (122 hash bits)."""
    digest = hashlib.sha256(_DEVICE_ID_LABEL + ed25519_public + x25519_public).digest()
    raw = bytearray(digest[:_DEVICE_ID_BYTES])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant 0b10
    return str(uuid.UUID(bytes=bytes(raw)))


def derive_fingerprint(ed25519_public: bytes, x25519_public: bytes) -> str:
    """The printable fingerprint: the first 20 bytes of SHA-256(label || Ed25519 || X25519) in
    RFC 4648 base32, as 8 groups of 4 characters separated by spaces."""
    digest = hashlib.sha256(_FINGERPRINT_LABEL + ed25519_public + x25519_public).digest()
    text = base64.b32encode(digest[:_FINGERPRINT_BYTES]).decode("ascii")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


class PublicBundle:
    """A device's public keys, as other devices see them. Immutable; valid by construction.

    Args:
        ed25519_public: The 32-byte Ed25519 public key (signatures).
        x25519_public: The 32-byte X25519 public key (envelopes).
        signature: The device's 64-byte Ed25519 signature over `bundle_signing_input(...)`.

    Raises:
        TypeError: An argument is not bytes.
        ValueError: A length is wrong, or the X25519 key is a point of small order.
        InvalidSignature: The signature over the X25519 key does not verify.
    """

    __slots__ = (
        "device_id",
        "ed25519_public",
        "fingerprint",
        "signature",
        "verify_key",
        "x25519_public",
    )

    ed25519_public: bytes
    x25519_public: bytes
    signature: bytes
    verify_key: VerifyKey
    device_id: str
    fingerprint: str

    def __init__(self, ed25519_public: bytes, x25519_public: bytes, signature: bytes) -> None:
        verify_key = VerifyKey(ed25519_public)
        check_x25519_public(x25519_public)
        if not isinstance(signature, bytes):
            raise TypeError("signature must be bytes")
        if len(signature) != ED25519_SIGNATURE_LENGTH:
            raise ValueError(f"signature must be {ED25519_SIGNATURE_LENGTH} bytes")
        verify_key.verify(
            signature,
            bundle_signing_input(ed25519_public, x25519_public),
            what="device bundle signature",
        )
        values = {
            "ed25519_public": ed25519_public,
            "x25519_public": x25519_public,
            "signature": signature,
            "verify_key": verify_key,
            "device_id": derive_device_id(ed25519_public, x25519_public),
            "fingerprint": derive_fingerprint(ed25519_public, x25519_public),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, str]:
        """The JSON form: `device_id`, `ed25519`, `x25519`, `signature` (base64url strings)."""
        return {
            "device_id": self.device_id,
            "ed25519": b64url_encode(self.ed25519_public),
            "x25519": b64url_encode(self.x25519_public),
            "signature": b64url_encode(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicBundle:
        """Parse and check the JSON form made by `to_dict`.

        Raises:
            TypeError: `data` is not a mapping or a value is not a str.
            ValueError: Keys are missing or extra, an encoding is wrong, or `device_id` does not
                match the keys.
            InvalidSignature: The bundle's signature does not verify.
        """
        if not isinstance(data, Mapping):
            raise TypeError("a public bundle must be a mapping")
        if set(data) != _BUNDLE_KEYS:
            raise ValueError(f"a public bundle has exactly the keys {sorted(_BUNDLE_KEYS)}")
        bundle = cls(
            b64url_decode(data["ed25519"], length=ED25519_PUBLIC_LENGTH),
            b64url_decode(data["x25519"], length=X25519_KEY_LENGTH),
            b64url_decode(data["signature"], length=ED25519_SIGNATURE_LENGTH),
        )
        if data["device_id"] != bundle.device_id:
            raise ValueError("device_id does not match the bundle's keys")
        return bundle

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PublicBundle is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PublicBundle)
            and self.ed25519_public == other.ed25519_public
            and self.x25519_public == other.x25519_public
            and self.signature == other.signature
        )

    def __hash__(self) -> int:
        return hash((self.ed25519_public, self.x25519_public))

    def __repr__(self) -> str:
        return f"PublicBundle(device_id={self.device_id!r}, fingerprint={self.fingerprint!r})"


class DeviceIdentity:
    """One device's private keys. Secret: store it with dialtone-keystore.

    Args:
        signing_key: The Ed25519 key.
        exchange_key: The X25519 key.

    Raises:
        TypeError: An argument has the wrong type.
    """

    __slots__ = ("exchange_key", "public_bundle", "signing_key")

    signing_key: SigningKey
    exchange_key: ExchangeKey
    public_bundle: PublicBundle

    def __init__(self, signing_key: SigningKey, exchange_key: ExchangeKey) -> None:
        if not isinstance(signing_key, SigningKey):
            raise TypeError("signing_key must be a SigningKey")
        if not isinstance(exchange_key, ExchangeKey):
            raise TypeError("exchange_key must be an ExchangeKey")
        ed_public = signing_key.public_key.raw
        x_public = exchange_key.public_bytes
        bundle = PublicBundle(
            ed_public, x_public, signing_key.sign(bundle_signing_input(ed_public, x_public))
        )
        object.__setattr__(self, "signing_key", signing_key)
        object.__setattr__(self, "exchange_key", exchange_key)
        object.__setattr__(self, "public_bundle", bundle)

    @classmethod
    def generate(cls, *, rng: RandomSource = default_random) -> DeviceIdentity:
        """A new identity: 32 bytes from `rng` for the Ed25519 seed, then 32 for X25519."""
        return cls(SigningKey.generate(rng), ExchangeKey.generate(rng))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> DeviceIdentity:
        """Rebuild an identity from `private_bytes()`.

        Raises:
            TypeError: `data` is not bytes.
            ValueError: `data` is not 64 bytes, or its X25519 key is unusable.
        """
        if not isinstance(data, bytes):
            raise TypeError("private key bytes must be bytes")
        if len(data) != ED25519_SEED_LENGTH + X25519_KEY_LENGTH:
            raise ValueError("private key bytes must be 64 bytes")
        return cls(SigningKey(data[:ED25519_SEED_LENGTH]), ExchangeKey(data[ED25519_SEED_LENGTH:]))

    def private_bytes(self) -> bytes:
        """64 secret bytes: the Ed25519 seed followed by the X25519 private key."""
        return self.signing_key.seed + self.exchange_key.private_bytes

    @property
    def device_id(self) -> str:
        """This device's id (see `PublicBundle.device_id`)."""
        return self.public_bundle.device_id

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("DeviceIdentity is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceIdentity) and hmac.compare_digest(
            self.private_bytes(), other.private_bytes()
        )

    def __hash__(self) -> int:
        return hash(self.public_bundle)

    def __repr__(self) -> str:
        # Never show private key material.
        return f"DeviceIdentity(device_id={self.device_id!r})"


def device_approval_input(user_id: str, device: PublicBundle) -> bytes:
    """The bytes an existing device signs to vouch that `device` belongs to user `user_id`:
    label || version || lp(user id) || lp(device id) || Ed25519 key || X25519 key.

    Raises:
        TypeError, ValueError: `user_id` breaks the identifier rules, or `device` is no bundle.
    """
    if not isinstance(device, PublicBundle):
        raise TypeError("device must be a PublicBundle")
    uid = check_id(user_id, "user id")
    did = device.device_id.encode("ascii")
    return b"".join(
        (
            _APPROVAL_LABEL,
            bytes((FORMAT_VERSION, len(uid))),
            uid,
            bytes((len(did),)),
            did,
            device.ed25519_public,
            device.x25519_public,
        )
    )


def approve_device(approver: DeviceIdentity, user_id: str, device: PublicBundle) -> bytes:
    """Sign, with one of a user's devices, that another device is theirs too (device approval).

    Args:
        approver: The user's existing device.
        user_id: The user's id.
        device: The new device's public bundle.

    Returns:
        The 64-byte Ed25519 signature over `device_approval_input(user_id, device)`.
    """
    if not isinstance(approver, DeviceIdentity):
        raise TypeError("approver must be a DeviceIdentity")
    return approver.signing_key.sign(device_approval_input(user_id, device))


def verify_device_approval(
    approver: PublicBundle, user_id: str, device: PublicBundle, signature: bytes
) -> None:
    """Check a device approval made by `approve_device`.

    Raises:
        TypeError: An argument has the wrong type.
        InvalidSignature: The approval does not verify under the approver's key.
    """
    if not isinstance(approver, PublicBundle):
        raise TypeError("approver must be a PublicBundle")
    if not isinstance(signature, bytes):
        raise TypeError("signature must be bytes")
    approver.verify_key.verify(
        signature, device_approval_input(user_id, device), what="device approval"
    )
