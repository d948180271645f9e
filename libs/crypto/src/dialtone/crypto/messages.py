"""Sealed, signed messages: the fields of a chat message, a channel name or a profile name.

A *message* here is one client-generated unit with an id: a chat message (body and, optionally,
the sender's display name), a channel-name change, or a profile display-name change. Each of its
fields is padded (`dialtone.crypto.padding`) and sealed with AES-256-GCM under the scope's key,
with associated data that binds it to the format version, the field's purpose, the scope (channel
or directory), the key epoch, the message id and the sender's device id. The sending device then
signs the whole message with Ed25519. Layouts are in docs/protocol-crypto.md.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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
from dialtone.crypto.padding import MIN_BUCKET, is_bucket_size, pad, unpad
from dialtone.crypto.primitives import (
    AEAD_NONCE_LENGTH,
    AEAD_TAG_LENGTH,
    ED25519_SIGNATURE_LENGTH,
)

__all__ = [
    "MESSAGE_ID_BYTES",
    "NAME_MESSAGE_ID",
    "SEALED_FIELD_OVERHEAD",
    "OpenedMessage",
    "Purpose",
    "SealedMessage",
    "associated_data",
    "encode_context",
    "message_signing_input",
    "new_message_id",
    "open_field",
    "open_message",
    "seal_channel_name",
    "seal_field",
    "seal_fields",
    "seal_message",
    "seal_profile_name",
]


class Purpose(enum.IntEnum):
    """What a sealed field holds. The value is its byte in associated data and signatures."""

    MESSAGE_BODY = 1
    SENDER_NAME = 2
    CHANNEL_NAME = 3
    PROFILE_NAME = 4

    @property
    def wire_name(self) -> str:
        """The field's key in the JSON form."""
        return _WIRE_NAMES[self]


_WIRE_NAMES: Final = {
    Purpose.MESSAGE_BODY: "body",
    Purpose.SENDER_NAME: "sender_name",
    Purpose.CHANNEL_NAME: "channel_name",
    Purpose.PROFILE_NAME: "profile_name",
}
_BY_WIRE_NAME: Final = {name: purpose for purpose, name in _WIRE_NAMES.items()}
_PURPOSES_BY_SCOPE: Final = {
    ScopeKind.CHANNEL: frozenset({Purpose.MESSAGE_BODY, Purpose.SENDER_NAME, Purpose.CHANNEL_NAME}),
    ScopeKind.DIRECTORY: frozenset({Purpose.PROFILE_NAME}),
}

#: Random bytes in a message id made by `new_message_id` (shown as 22 base64url characters).
MESSAGE_ID_BYTES: Final = 16
#: The message id that channel-name and profile-name updates use by default: those updates travel
#: without an id of their own (their scope, epoch, purpose and sender still bind them).
NAME_MESSAGE_ID: Final = "name"
#: Bytes a sealed field adds to its padded plaintext: version, nonce, tag.
SEALED_FIELD_OVERHEAD: Final = 1 + AEAD_NONCE_LENGTH + AEAD_TAG_LENGTH

_VERSION_BYTE: Final = bytes((FORMAT_VERSION,))
_FIELD_LABEL: Final = b"dialtone/v1/field\x00"
_MESSAGE_LABEL: Final = b"dialtone/v1/message\x00"
# Byte strings computed once: building them per call from IntEnum values is slow in CPython, and
# these sit on the path of every send and receive.
_PURPOSE_BYTE: Final = {purpose: bytes((purpose,)) for purpose in Purpose}
_AD_PREFIX: Final = {
    purpose: _FIELD_LABEL + _VERSION_BYTE + _PURPOSE_BYTE[purpose] for purpose in Purpose
}
_MESSAGE_PREFIX: Final = _MESSAGE_LABEL + _VERSION_BYTE
_MESSAGE_KEYS: Final = frozenset(
    {"version", "scope", "epoch", "message_id", "sender_device_id", "fields", "signature"}
)


def new_message_id(rng: RandomSource = default_random) -> str:
    """A fresh client-generated message id: 16 random bytes in base64url (22 characters)."""
    return b64url_encode(rng(MESSAGE_ID_BYTES))


def encode_context(scope: Scope, epoch: int, message_id: str, sender_device_id: str) -> bytes:
    """The context shared by a message's associated data and its signature input.

    Layout: scope kind (1) || scope id length (1) || scope id || epoch (4, big-endian) ||
    message id length (1) || message id || sender device id length (1) || sender device id.

    Raises:
        TypeError, ValueError: An identifier or the epoch breaks its rules.
    """
    mid = check_id(message_id, "message id")
    sid = check_id(sender_device_id, "sender device id")
    return b"".join(
        (
            scope.encoded,
            check_epoch(epoch).to_bytes(4, "big"),
            bytes((len(mid),)),
            mid,
            bytes((len(sid),)),
            sid,
        )
    )


def associated_data(purpose: Purpose, context: bytes) -> bytes:
    """AES-GCM associated data of one field: label || version || purpose || context."""
    return _AD_PREFIX[purpose] + context


def seal_field(
    key: ChannelKey,
    purpose: Purpose,
    context: bytes,
    plaintext: bytes,
    rng: RandomSource = default_random,
) -> bytes:
    """Pad and seal one field: version (1) || nonce (12) || AES-256-GCM(padded) || tag (16).

    This is the unsigned building block; applications use `seal_message` and friends.
    """
    nonce = rng(AEAD_NONCE_LENGTH)
    return (
        _VERSION_BYTE
        + nonce
        + key.aead.encrypt(nonce, pad(plaintext), associated_data(purpose, context))
    )


def open_field(key: ChannelKey, purpose: Purpose, context: bytes, sealed: bytes) -> bytes:
    """Open one field sealed by `seal_field` and remove its padding.

    Raises:
        DecryptionError: Wrong key or context, tampering, truncation, or bad padding.
    """
    if len(sealed) < SEALED_FIELD_OVERHEAD + MIN_BUCKET or sealed[0] != FORMAT_VERSION:
        raise DecryptionError
    padded = key.aead.decrypt(
        sealed[1 : 1 + AEAD_NONCE_LENGTH],
        sealed[1 + AEAD_NONCE_LENGTH :],
        associated_data(purpose, context),
    )
    return unpad(padded)


def message_signing_input(context: bytes, fields: Mapping[Purpose, bytes]) -> bytes:
    """The bytes a device signs for a message.

    Layout: label || version (1) || context || field count (1) || for each field in ascending
    purpose order: purpose (1) || sealed length (4, big-endian) || sealed field.
    """
    parts = [_MESSAGE_PREFIX, context, bytes((len(fields),))]
    for purpose in sorted(fields):
        sealed = fields[purpose]
        parts += (_PURPOSE_BYTE[purpose], len(sealed).to_bytes(4, "big"), sealed)
    return b"".join(parts)


def _check_purposes(scope: Scope, purposes: Mapping[Purpose, object]) -> None:
    if not purposes:
        raise ValueError("a message needs at least one field")
    allowed = _PURPOSES_BY_SCOPE[scope.kind]
    for purpose in purposes:
        if not isinstance(purpose, Purpose):
            raise TypeError(f"field keys must be Purpose values, got {purpose!r}")
        if purpose not in allowed:
            raise ValueError(f"{purpose.name} fields cannot be sealed in {scope!r}")


def _check_sealed_field(purpose: Purpose, sealed: object) -> None:
    if not isinstance(sealed, bytes):
        raise TypeError(f"sealed {purpose.wire_name} must be bytes")
    if len(sealed) <= SEALED_FIELD_OVERHEAD or sealed[0] != FORMAT_VERSION:
        raise ValueError(f"sealed {purpose.wire_name} is truncated or of an unknown version")
    if not is_bucket_size(len(sealed) - SEALED_FIELD_OVERHEAD):
        raise ValueError(f"sealed {purpose.wire_name} has a length no sender makes")


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """A message as it travels and is stored: sealed fields, their context and a signature.

    Only the context (scope, epoch, ids) is readable by the server; it needs it for routing.

    Raises:
        TypeError: A value has the wrong type.
        ValueError: An identifier, the epoch, a field or the signature is malformed, or a field's
            purpose does not belong in the scope.
    """

    scope: Scope
    epoch: int
    message_id: str
    sender_device_id: str
    fields: Mapping[Purpose, bytes]
    """Sealed fields by purpose (read-only)."""
    signature: bytes
    context: bytes = field(init=False, repr=False, compare=False)
    """`encode_context(...)` of this message."""

    def __post_init__(self) -> None:
        if not isinstance(self.scope, Scope):
            raise TypeError("scope must be a Scope")
        if not isinstance(self.fields, Mapping):
            raise TypeError("fields must be a mapping of Purpose to bytes")
        object.__setattr__(
            self,
            "context",
            encode_context(self.scope, self.epoch, self.message_id, self.sender_device_id),
        )
        _check_purposes(self.scope, self.fields)
        for purpose, sealed in self.fields.items():
            _check_sealed_field(purpose, sealed)
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        if not isinstance(self.signature, bytes):
            raise TypeError("signature must be bytes")
        if len(self.signature) != ED25519_SIGNATURE_LENGTH:
            raise ValueError(f"signature must be {ED25519_SIGNATURE_LENGTH} bytes")

    @classmethod
    def _from_trusted_parts(
        cls,
        scope: Scope,
        epoch: int,
        message_id: str,
        sender_device_id: str,
        fields: dict[Purpose, bytes],
        signature: bytes,
        context: bytes,
    ) -> SealedMessage:
        # For seal_fields, whose parts are valid by construction: skips re-checking them on the
        # hot path of every send.
        message = object.__new__(cls)
        _set_scope(message, scope)
        _set_epoch(message, epoch)
        _set_message_id(message, message_id)
        _set_sender_device_id(message, sender_device_id)
        _set_fields(message, MappingProxyType(fields))
        _set_signature(message, signature)
        _set_context(message, context)
        return message

    def signing_input(self) -> bytes:
        """The bytes the sender signed (`message_signing_input`)."""
        return message_signing_input(self.context, self.fields)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form.

        `{"version": 1, "scope": {"kind": "channel" | "directory", "id": str}, "epoch": int,
        "message_id": str, "sender_device_id": str, "fields": {wire name: base64url},
        "signature": base64url}`.
        """
        return {
            "version": FORMAT_VERSION,
            "scope": self.scope.to_dict(),
            "epoch": self.epoch,
            "message_id": self.message_id,
            "sender_device_id": self.sender_device_id,
            "fields": {
                purpose.wire_name: b64url_encode(self.fields[purpose])
                for purpose in sorted(self.fields)
            },
            "signature": b64url_encode(self.signature),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SealedMessage:
        """Parse the JSON form made by `to_dict`.

        Raises:
            TypeError: A value has the wrong JSON type.
            ValueError: Keys are missing or unknown, the version is not 1, or a value is malformed.
        """
        if not isinstance(data, Mapping):
            raise TypeError("a sealed message must be a mapping")
        if set(data) != _MESSAGE_KEYS:
            raise ValueError(f"a sealed message has exactly the keys {sorted(_MESSAGE_KEYS)}")
        if data["version"] != FORMAT_VERSION or isinstance(data["version"], bool):
            raise ValueError(f"unsupported sealed message version {data['version']!r}")
        scope = Scope.from_dict(data["scope"])
        raw_fields = data["fields"]
        if not isinstance(raw_fields, Mapping):
            raise TypeError("fields must be a mapping")
        fields = {}
        for name, text in raw_fields.items():
            if name not in _BY_WIRE_NAME:
                raise ValueError(f"unknown field {name!r}")
            fields[_BY_WIRE_NAME[name]] = b64url_decode(text)
        return cls(
            scope=scope,
            epoch=data["epoch"],
            message_id=data["message_id"],
            sender_device_id=data["sender_device_id"],
            fields=fields,
            signature=b64url_decode(data["signature"], length=ED25519_SIGNATURE_LENGTH),
        )


# The slots' own setters: they bypass the frozen dataclass's __setattr__ for _from_trusted_parts.
(
    _set_scope,
    _set_epoch,
    _set_message_id,
    _set_sender_device_id,
    _set_fields,
    _set_signature,
    _set_context,
) = (SealedMessage.__dict__[f.name].__set__ for f in dataclasses.fields(SealedMessage))


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    """A verified, decrypted message."""

    scope: Scope
    epoch: int
    message_id: str
    sender_device_id: str
    fields: Mapping[Purpose, str]
    """Plaintext fields by purpose."""

    @property
    def body(self) -> str | None:
        """The message body, if the message has one."""
        return self.fields.get(Purpose.MESSAGE_BODY)

    @property
    def sender_name(self) -> str | None:
        """The sender's display name, if the message carries one."""
        return self.fields.get(Purpose.SENDER_NAME)

    @property
    def channel_name(self) -> str | None:
        """The channel name, if this message sets one."""
        return self.fields.get(Purpose.CHANNEL_NAME)

    @property
    def profile_name(self) -> str | None:
        """The profile display name, if this message sets one."""
        return self.fields.get(Purpose.PROFILE_NAME)


def seal_fields(
    identity: DeviceIdentity,
    key: ChannelKey,
    fields: Mapping[Purpose, str],
    *,
    message_id: str | None = None,
    rng: RandomSource = default_random,
) -> SealedMessage:
    """Seal text fields for `key`'s scope and epoch, and sign the result.

    Args:
        identity: The sending device.
        key: The channel (or directory) key of the current epoch.
        fields: Plaintext by purpose; purposes must belong to the key's scope (directory:
            PROFILE_NAME only; channel: the other three).
        message_id: The client-generated id; a new one from `rng` if None.
        rng: Randomness for the message id and the nonces.

    Returns:
        The signed `SealedMessage`.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: A purpose does not belong in the scope, a field is over 65535 UTF-8 bytes, or
            an identifier is malformed.
    """
    if not isinstance(identity, DeviceIdentity):
        raise TypeError("identity must be a DeviceIdentity")
    if not isinstance(key, ChannelKey):
        raise TypeError("key must be a ChannelKey")
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise TypeError("fields must be a mapping of Purpose to str")
    _check_purposes(key.scope, fields)
    if message_id is None:
        message_id = new_message_id(rng)
        mid = message_id.encode("ascii")
    else:
        mid = check_id(message_id, "message id")
    device_id = identity.device_id
    # Same layout as encode_context; built inline because the ids are already known to be valid
    # and this is the hot path of every send.
    context = b"".join(
        (
            key.context_prefix,
            bytes((len(mid),)),
            mid,
            bytes((len(device_id),)),
            device_id.encode("ascii"),
        )
    )
    sealed: dict[Purpose, bytes] = {}
    for purpose, text in fields.items():
        if not isinstance(text, str):
            raise TypeError(f"{purpose.wire_name} must be a str, got {type(text).__name__}")
        sealed[purpose] = seal_field(key, purpose, context, text.encode("utf-8"), rng)
    signature = identity.signing_key.sign(message_signing_input(context, sealed))
    return SealedMessage._from_trusted_parts(
        key.scope, key.epoch, message_id, device_id, sealed, signature, context
    )


def seal_message(
    identity: DeviceIdentity,
    key: ChannelKey,
    body: str,
    *,
    sender_name: str | None = None,
    message_id: str | None = None,
    rng: RandomSource = default_random,
) -> SealedMessage:
    """Seal and sign a chat message for a channel (see `seal_fields`)."""
    fields = {Purpose.MESSAGE_BODY: body}
    if sender_name is not None:
        fields[Purpose.SENDER_NAME] = sender_name
    return seal_fields(identity, key, fields, message_id=message_id, rng=rng)


def seal_channel_name(
    identity: DeviceIdentity,
    key: ChannelKey,
    name: str,
    *,
    message_id: str = NAME_MESSAGE_ID,
    rng: RandomSource = default_random,
) -> SealedMessage:
    """Seal and sign a channel's name under that channel's key (see `seal_fields`).

    The message id defaults to `NAME_MESSAGE_ID`; open with the same id.
    """
    return seal_fields(identity, key, {Purpose.CHANNEL_NAME: name}, message_id=message_id, rng=rng)


def seal_profile_name(
    identity: DeviceIdentity,
    directory_key: ChannelKey,
    name: str,
    *,
    message_id: str = NAME_MESSAGE_ID,
    rng: RandomSource = default_random,
) -> SealedMessage:
    """Seal and sign a user's profile display name under their directory key, whose scope is
    `Scope.directory(owner_user_id)` (see `seal_fields`).

    The message id defaults to `NAME_MESSAGE_ID`; open with the same id.
    """
    return seal_fields(
        identity, directory_key, {Purpose.PROFILE_NAME: name}, message_id=message_id, rng=rng
    )


def open_message(
    message: SealedMessage, *, key: ChannelKey | None, sender: PublicBundle | None
) -> OpenedMessage:
    """Verify a message's signature, then open its fields.

    Designed for lookups: pass what your key store returned, None included.

    Args:
        message: The sealed message.
        key: The key of `message.scope` at `message.epoch`, or None if the caller has none.
        sender: The public bundle of `message.sender_device_id`, or None if unknown.

    Returns:
        The plaintext message.

    Raises:
        MissingKeyError: `key` or `sender` is None.
        TypeError: An argument has the wrong type.
        ValueError: `key` is for another scope or epoch, or `sender` is another device.
        InvalidSignature: The sender's signature does not verify.
        DecryptionError: A field does not authenticate or its padding or UTF-8 is bad.
    """
    if not isinstance(message, SealedMessage):
        raise TypeError("message must be a SealedMessage")
    if key is None:
        raise MissingKeyError(f"no key for {message.scope!r} at epoch {message.epoch}")
    if sender is None:
        raise MissingKeyError(f"no public bundle for device {message.sender_device_id!r}")
    if not isinstance(key, ChannelKey):
        raise TypeError("key must be a ChannelKey or None")
    if not isinstance(sender, PublicBundle):
        raise TypeError("sender must be a PublicBundle or None")
    if key.scope != message.scope or key.epoch != message.epoch:
        raise ValueError(
            f"key is for {key.scope!r} epoch {key.epoch}; the message needs "
            f"{message.scope!r} epoch {message.epoch}"
        )
    if sender.device_id != message.sender_device_id:
        raise ValueError("sender bundle is not the message's sender device")
    sender.verify_key.verify(
        message.signature,
        message_signing_input(message.context, message.fields),
        what="message signature",
    )
    opened: dict[Purpose, str] = {}
    for purpose, sealed in message.fields.items():
        plaintext = open_field(key, purpose, message.context, sealed)
        try:
            opened[purpose] = plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError from None
    return OpenedMessage(
        message.scope, message.epoch, message.message_id, message.sender_device_id, opened
    )
