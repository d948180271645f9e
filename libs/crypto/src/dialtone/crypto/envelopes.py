"""Envelopes: a channel (or directory) key wrapped for one recipient device, signed by the sender.

Each envelope uses a fresh ephemeral X25519 key. The shared secret with the recipient's X25519 key
goes through HKDF-SHA256, whose info binds a protocol label, the scope (channel or directory), the
key epoch, both device ids and both X25519 public keys; the output keys AES-256-GCM, which seals the
32-byte channel key. The sending device signs the whole envelope with Ed25519. Layouts are in
docs/protocol-crypto.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dialtone.crypto.encoding import (
    RandomSource,
    b64url_decode,
    b64url_encode,
    check_id,
    default_random,
)
from dialtone.crypto.errors import DecryptionError, MissingKeyError
from dialtone.crypto.identity import FORMAT_VERSION, DeviceIdentity, PublicBundle
from dialtone.crypto.keys import ChannelKey, Scope, ScopeKind, check_epoch
from dialtone.crypto.primitives import (
    AEAD_KEY_LENGTH,
    AEAD_NONCE_LENGTH,
    AEAD_TAG_LENGTH,
    ED25519_SIGNATURE_LENGTH,
    X25519_KEY_LENGTH,
    Aead,
    ExchangeKey,
    check_x25519_public,
    hkdf_sha256,
)

__all__ = [
    "ENVELOPE_CIPHERTEXT_LENGTH",
    "SEALED_KEY_LENGTH",
    "Envelope",
    "envelope_header",
    "make_envelope",
    "open_envelope",
]

#: Length of the sealed channel key: 32 key bytes and a 16-byte tag.
ENVELOPE_CIPHERTEXT_LENGTH: Final = AEAD_KEY_LENGTH + AEAD_TAG_LENGTH
#: Length of `Envelope.sealed_key`: the ephemeral public key and the ciphertext.
SEALED_KEY_LENGTH: Final = X25519_KEY_LENGTH + ENVELOPE_CIPHERTEXT_LENGTH

_KEY_LABEL: Final = b"dialtone/v1/envelope-key\x00"
_AD_LABEL: Final = b"dialtone/v1/envelope\x00"
_SIGNATURE_LABEL: Final = b"dialtone/v1/envelope-sig\x00"
_ENVELOPE_KEYS: Final = frozenset(
    {
        "version",
        "scope",
        "epoch",
        "sender_device_id",
        "recipient_device_id",
        "ephemeral",
        "ciphertext",
        "signature",
    }
)


def envelope_header(
    scope: Scope,
    epoch: int,
    sender_device_id: str,
    recipient_device_id: str,
    ephemeral_public: bytes,
) -> bytes:
    """version (1) || scope || epoch (4, big-endian) || sender id length (1) || sender id ||
    recipient id length (1) || recipient id || ephemeral X25519 public key (32).

    Raises:
        TypeError, ValueError: A value breaks its rules (including a small-order ephemeral key).
    """
    if not isinstance(scope, Scope):
        raise TypeError("scope must be a Scope")
    sender = check_id(sender_device_id, "sender device id")
    recipient = check_id(recipient_device_id, "recipient device id")
    return b"".join(
        (
            bytes((FORMAT_VERSION,)),
            scope.encoded,
            check_epoch(epoch).to_bytes(4, "big"),
            bytes((len(sender),)),
            sender,
            bytes((len(recipient),)),
            recipient,
            check_x25519_public(ephemeral_public, "ephemeral public key"),
        )
    )


@dataclass(frozen=True, slots=True)
class Envelope:
    """A wrapped key as it travels and is stored.

    Raises:
        TypeError: A value has the wrong type.
        ValueError: An identifier, the epoch or a length is wrong, or the ephemeral key is a
            point of small order.
    """

    scope: Scope
    epoch: int
    sender_device_id: str
    recipient_device_id: str
    ephemeral_public: bytes
    ciphertext: bytes
    signature: bytes
    header: bytes = field(init=False, repr=False, compare=False)
    """version (1) || scope || epoch (4) || sender id || recipient id || ephemeral key (32)."""

    def __post_init__(self) -> None:
        header = envelope_header(
            self.scope,
            self.epoch,
            self.sender_device_id,
            self.recipient_device_id,
            self.ephemeral_public,
        )
        for name, value, length in (
            ("ciphertext", self.ciphertext, ENVELOPE_CIPHERTEXT_LENGTH),
            ("signature", self.signature, ED25519_SIGNATURE_LENGTH),
        ):
            if not isinstance(value, bytes):
                raise TypeError(f"{name} must be bytes")
            if len(value) != length:
                raise ValueError(f"{name} must be {length} bytes")
        object.__setattr__(self, "header", header)

    def signing_input(self) -> bytes:
        """The bytes the sender signs: label || header || ciphertext."""
        return _SIGNATURE_LABEL + self.header + self.ciphertext

    @property
    def sealed_key(self) -> bytes:
        """ephemeral public key (32) || ciphertext (48): the part of an envelope that is neither
        addressing (readable ids, scope, epoch) nor the signature."""
        return self.ephemeral_public + self.ciphertext

    @classmethod
    def from_sealed_key(
        cls,
        scope: Scope,
        epoch: int,
        sender_device_id: str,
        recipient_device_id: str,
        sealed_key: bytes,
        signature: bytes,
    ) -> Envelope:
        """Rebuild an envelope carried as separate fields (as dialtone-wire carries it).

        Raises:
            TypeError, ValueError: As the constructor; `sealed_key` must be 80 bytes.
        """
        if not isinstance(sealed_key, bytes):
            raise TypeError("sealed_key must be bytes")
        if len(sealed_key) != SEALED_KEY_LENGTH:
            raise ValueError(f"sealed_key must be {SEALED_KEY_LENGTH} bytes")
        return cls(
            scope,
            epoch,
            sender_device_id,
            recipient_device_id,
            sealed_key[:X25519_KEY_LENGTH],
            sealed_key[X25519_KEY_LENGTH:],
            signature,
        )

    def to_bytes(self) -> bytes:
        """Binary form: header || ciphertext (48) || signature (64)."""
        return self.header + self.ciphertext + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse the binary form made by `to_bytes`.

        Raises:
            TypeError: `data` is not bytes.
            ValueError: The data is malformed.
        """
        if not isinstance(data, bytes):
            raise TypeError("envelope data must be bytes")
        try:
            if data[0] != FORMAT_VERSION:
                raise ValueError(f"unsupported envelope version {data[0]}")
            kind = ScopeKind(data[1])
            at = 3 + data[2]
            scope_id = data[3:at].decode("ascii")
            scope = Scope(kind, scope_id)
            epoch = int.from_bytes(data[at : at + 4], "big")
            at += 4
            ids = []
            for _ in range(2):
                end = at + 1 + data[at]
                ids.append(data[at + 1 : end].decode("ascii"))
                at = end
        except (IndexError, UnicodeDecodeError) as exc:
            raise ValueError("malformed envelope") from exc
        rest = data[at:]
        if len(rest) != X25519_KEY_LENGTH + ENVELOPE_CIPHERTEXT_LENGTH + ED25519_SIGNATURE_LENGTH:
            raise ValueError("malformed envelope")
        return cls(
            scope,
            epoch,
            ids[0],
            ids[1],
            rest[:X25519_KEY_LENGTH],
            rest[X25519_KEY_LENGTH : X25519_KEY_LENGTH + ENVELOPE_CIPHERTEXT_LENGTH],
            rest[X25519_KEY_LENGTH + ENVELOPE_CIPHERTEXT_LENGTH :],
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: `version`, `scope` (see `Scope.to_dict`), `epoch`,
        `sender_device_id`, `recipient_device_id`, and base64url `ephemeral`, `ciphertext`,
        `signature`."""
        return {
            "version": FORMAT_VERSION,
            "scope": self.scope.to_dict(),
            "epoch": self.epoch,
            "sender_device_id": self.sender_device_id,
            "recipient_device_id": self.recipient_device_id,
            "ephemeral": b64url_encode(self.ephemeral_public),
            "ciphertext": b64url_encode(self.ciphertext),
            "signature": b64url_encode(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Parse the JSON form made by `to_dict`.

        Raises:
            TypeError: A value has the wrong JSON type.
            ValueError: Keys are missing or unknown, the version is not 1, or a value is malformed.
        """
        if not isinstance(data, Mapping):
            raise TypeError("an envelope must be a mapping")
        if set(data) != _ENVELOPE_KEYS:
            raise ValueError(f"an envelope has exactly the keys {sorted(_ENVELOPE_KEYS)}")
        if data["version"] != FORMAT_VERSION or isinstance(data["version"], bool):
            raise ValueError(f"unsupported envelope version {data['version']!r}")
        return cls(
            Scope.from_dict(data["scope"]),
            data["epoch"],
            data["sender_device_id"],
            data["recipient_device_id"],
            b64url_decode(data["ephemeral"], length=X25519_KEY_LENGTH),
            b64url_decode(data["ciphertext"], length=ENVELOPE_CIPHERTEXT_LENGTH),
            b64url_decode(data["signature"], length=ED25519_SIGNATURE_LENGTH),
        )


def _wrapping_aead(shared: bytes, header: bytes, recipient_x25519: bytes) -> tuple[Aead, bytes]:
    okm = hkdf_sha256(
        shared,
        salt=b"",
        info=_KEY_LABEL + header + recipient_x25519,
        length=AEAD_KEY_LENGTH + AEAD_NONCE_LENGTH,
    )
    return Aead(okm[:AEAD_KEY_LENGTH]), okm[AEAD_KEY_LENGTH:]


def make_envelope(
    sender: DeviceIdentity,
    recipient: PublicBundle,
    key: ChannelKey,
    *,
    rng: RandomSource = default_random,
) -> Envelope:
    """Wrap `key` for one recipient device, and sign the envelope.

    Args:
        sender: The sending device.
        recipient: The recipient device's public bundle.
        key: The channel or directory key to hand over.
        rng: Randomness for the ephemeral X25519 key (32 bytes).

    Returns:
        The signed `Envelope`.

    Raises:
        TypeError: An argument has the wrong type.
    """
    if not isinstance(sender, DeviceIdentity):
        raise TypeError("sender must be a DeviceIdentity")
    if not isinstance(recipient, PublicBundle):
        raise TypeError("recipient must be a PublicBundle")
    if not isinstance(key, ChannelKey):
        raise TypeError("key must be a ChannelKey")
    ephemeral = ExchangeKey.generate(rng)
    header = envelope_header(
        key.scope, key.epoch, sender.device_id, recipient.device_id, ephemeral.public_bytes
    )
    aead, nonce = _wrapping_aead(
        ephemeral.exchange(recipient.x25519_public), header, recipient.x25519_public
    )
    ciphertext = aead.encrypt(nonce, key.secret, _AD_LABEL + header)
    signature = sender.signing_key.sign(_SIGNATURE_LABEL + header + ciphertext)
    return Envelope(
        key.scope,
        key.epoch,
        sender.device_id,
        recipient.device_id,
        ephemeral.public_bytes,
        ciphertext,
        signature,
    )


def open_envelope(
    envelope: Envelope, recipient: DeviceIdentity, *, sender: PublicBundle | None
) -> ChannelKey:
    """Verify an envelope's signature and unwrap the key it carries.

    Args:
        envelope: The envelope.
        recipient: This device.
        sender: The public bundle of `envelope.sender_device_id`, or None if unknown.

    Returns:
        The channel (or directory) key, with the envelope's scope and epoch.

    Raises:
        MissingKeyError: `sender` is None.
        TypeError: An argument has the wrong type.
        ValueError: `sender` is not the envelope's sender device.
        InvalidSignature: The sender's signature does not verify.
        DecryptionError: The envelope is for another device, or does not authenticate.
    """
    if not isinstance(envelope, Envelope):
        raise TypeError("envelope must be an Envelope")
    if not isinstance(recipient, DeviceIdentity):
        raise TypeError("recipient must be a DeviceIdentity")
    if sender is None:
        raise MissingKeyError(f"no public bundle for device {envelope.sender_device_id!r}")
    if not isinstance(sender, PublicBundle):
        raise TypeError("sender must be a PublicBundle or None")
    if sender.device_id != envelope.sender_device_id:
        raise ValueError("sender bundle is not the envelope's sender device")
    sender.verify_key.verify(
        envelope.signature, envelope.signing_input(), what="envelope signature"
    )
    if envelope.recipient_device_id != recipient.device_id:
        raise DecryptionError
    try:
        shared = recipient.exchange_key.exchange(envelope.ephemeral_public)
    except ValueError:
        raise DecryptionError from None
    aead, nonce = _wrapping_aead(shared, envelope.header, recipient.exchange_key.public_bytes)
    secret = aead.decrypt(nonce, envelope.ciphertext, _AD_LABEL + envelope.header)
    return ChannelKey(envelope.scope, envelope.epoch, secret)
