"""Enums and structures shared by the HTTP, WebSocket and IPC surfaces."""

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal

import attrs

from dialtone.wire import limits
from dialtone.wire.fields import (
    ChannelId,
    Code,
    DeviceId,
    HumanText,
    Items,
    PingId,
    PublicKey,
    Seq,
    Signature,
    Timestamp,
    Url,
    UserId,
)

PROTOCOL_VERSION: Final = 1
"""The protocol version this library speaks (in ``hello``/``ready`` and IPC ``identify``)."""
SUPPORTED_PROTOCOL_VERSIONS: Final = (1,)
"""Every version this library can speak, oldest first."""


class ErrorCode(enum.StrEnum):
    """Stable error codes of ``{"error": {"code", "message"}}`` bodies and WebSocket errors.

    Clients must treat a code they do not know like ``bad_request`` (it may come from a newer
    server), which is why error bodies carry the code as a string and this enum only names the
    known ones.
    """

    BAD_REQUEST = "bad_request"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNAUTHORIZED = "unauthorized"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_INVITE = "invalid_invite"
    FORBIDDEN = "forbidden"
    DEVICE_PENDING = "device_pending"
    DEVICE_REVOKED = "device_revoked"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    USERNAME_TAKEN = "username_taken"
    STALE_EPOCH = "stale_epoch"
    TOO_MANY_DEVICES = "too_many_devices"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    SLOW_CONSUMER = "slow_consumer"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"


HTTP_STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.UNSUPPORTED_VERSION: 400,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.INVALID_CREDENTIALS: 401,
        ErrorCode.INVALID_INVITE: 403,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.DEVICE_PENDING: 403,
        ErrorCode.DEVICE_REVOKED: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.METHOD_NOT_ALLOWED: 405,
        ErrorCode.CONFLICT: 409,
        ErrorCode.USERNAME_TAKEN: 409,
        ErrorCode.STALE_EPOCH: 409,
        ErrorCode.TOO_MANY_DEVICES: 409,
        ErrorCode.PAYLOAD_TOO_LARGE: 413,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.SLOW_CONSUMER: 429,
        ErrorCode.INTERNAL_ERROR: 500,
        ErrorCode.UNAVAILABLE: 503,
    }
)
"""The HTTP status that goes with each error code."""


class Role(enum.StrEnum):
    """A member's role in a channel."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class DeviceStatus(enum.StrEnum):
    """A device's standing: new devices of an existing user wait for approval by another device."""

    PENDING = "pending"
    APPROVED = "approved"
    REVOKED = "revoked"


class PresenceStatus(enum.StrEnum):
    """A user's presence."""

    ONLINE = "online"
    AWAY = "away"
    DND = "dnd"
    OFFLINE = "offline"


@attrs.frozen(kw_only=True)
class DeviceKeys:
    """A device's public keys: X25519 for envelopes, Ed25519 for signatures.

    Attributes:
        x25519_public: The X25519 public key envelopes are made to.
        ed25519_public: The Ed25519 public key the device signs with.
        key_signature: The Ed25519 signature of the X25519 public key (crypto layer format).
    """

    x25519_public: PublicKey
    ed25519_public: PublicKey
    key_signature: Signature


@attrs.frozen(kw_only=True)
class DeviceInfo:
    """A device as the server knows it.

    Attributes:
        device_id: The device.
        user_id: Its owner.
        keys: Its public keys.
        status: Pending, approved or revoked.
        created_at: When it was registered.
        approved_by: The owner's device that approved it (None for a user's first device).
        approval_signature: The approving device's signature over this device's keys.
        revoked_at: When it was revoked, if it was.
    """

    device_id: DeviceId
    user_id: UserId
    keys: DeviceKeys
    status: DeviceStatus
    created_at: Timestamp
    approved_by: DeviceId | None = None
    approval_signature: Signature | None = None
    revoked_at: Timestamp | None = None


@attrs.frozen(kw_only=True)
class ChannelCursor:
    """The last sequence number a client holds for a channel (0: none).

    Attributes:
        channel_id: The channel.
        seq: The highest sequence number already received.
    """

    channel_id: ChannelId
    seq: Seq


@attrs.frozen(kw_only=True)
class IceServer:
    """One STUN or TURN server, as WebRTC's ``RTCIceServer``.

    Attributes:
        urls: ``stun:``/``turn:``/``turns:`` URLs.
        username: The TURN username (``{expiry}:{user_id}`` for REST credentials), None for STUN.
        credential: The TURN password, None for STUN.
    """

    urls: Annotated[tuple[Url, ...], Items(limits.MAX_ICE_URLS, 1)]
    username: HumanText | None = None
    credential: HumanText | None = None


@attrs.frozen(kw_only=True)
class VoiceParticipant:
    """A device in a channel's voice room.

    Attributes:
        user_id: The user.
        device_id: The device in the room (a user may join from one device at a time per room).
        muted: Whether the participant's microphone is muted.
        deafened: Whether the participant hears nothing.
        joined_at: When the device joined the room.
    """

    user_id: UserId
    device_id: DeviceId
    muted: bool
    deafened: bool
    joined_at: Timestamp


@attrs.frozen(kw_only=True)
class Ping:
    """A liveness probe; the other side answers ``pong`` with the same id (WebSocket and IPC).

    Attributes:
        ping_id: Chosen by the sender, echoed in the pong.
    """

    type: Literal["ping"] = "ping"
    ping_id: PingId


@attrs.frozen(kw_only=True)
class Pong:
    """The answer to a ``ping``.

    Attributes:
        ping_id: The id of the ping answered.
    """

    type: Literal["pong"] = "pong"
    ping_id: PingId


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """The inside of an error body.

    Attributes:
        code: An `ErrorCode` value (kept a string so a newer server's codes still decode).
        message: A human explanation, safe to show.
    """

    code: Code
    message: HumanText
