"""Rows as frozen attrs records: what storage returns and accepts.

Field names follow the `dialtone.wire` types they become, so routes convert them field for field.
Ids are lowercase UUID text; content fields are opaque bytes the server never interprets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member")
DeviceStatus = Literal["pending", "approved", "revoked"]
PresenceStatus = Literal["online", "away", "dnd", "offline"]


@attrs.frozen(kw_only=True)
class UserRecord:
    """A user account. The username itself is never stored, only its peppered HMAC."""

    user_id: str
    username_hash: bytes
    password_hash: str
    is_admin: bool
    created_at: datetime


@attrs.frozen(kw_only=True)
class DeviceKeys:
    """Public keys of a device: X25519 for envelopes, Ed25519 for signatures, and the Ed25519
    signature over the X25519 key."""

    x25519_public: bytes
    ed25519_public: bytes
    key_signature: bytes


@attrs.frozen(kw_only=True)
class DeviceRecord:
    """A device of a user."""

    device_id: str
    user_id: str
    keys: DeviceKeys
    created_at: datetime
    approved_at: datetime | None
    approved_by: str | None
    approval_signature: bytes | None
    revoked_at: datetime | None

    @property
    def status(self) -> DeviceStatus:
        """`revoked`, `approved` (a user's first device is born so) or `pending`."""
        if self.revoked_at is not None:
            return "revoked"
        return "approved" if self.approved_at is not None else "pending"


@attrs.frozen(kw_only=True)
class SessionRecord:
    """A login session of one device. The token is known only by its digest."""

    session_id: str
    user_id: str
    device_id: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


@attrs.frozen(kw_only=True)
class AuthenticatedSession:
    """A live session joined with its device and user state (what authentication needs)."""

    session_id: str
    user_id: str
    device_id: str
    is_admin: bool
    device_status: DeviceStatus
    expires_at: datetime
    last_used_at: datetime | None


@attrs.frozen(kw_only=True)
class InviteRecord:
    """An invite. The token is known only by its digest."""

    invite_id: str
    created_by: str | None
    note: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    revoked_at: datetime | None


@attrs.frozen(kw_only=True)
class ChannelName:
    """A channel name sealed with the channel key of `key_epoch` by `device_id`, and signed."""

    key_epoch: int
    device_id: str
    sealed_name: bytes
    signature: bytes


@attrs.frozen(kw_only=True)
class ChannelRecord:
    """A channel."""

    channel_id: str
    name: ChannelName
    current_epoch: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    last_seq: int


@attrs.frozen(kw_only=True)
class ChannelView:
    """A channel as one member sees it: with their role and read marker."""

    channel: ChannelRecord
    role: Role
    read_seq: int


@attrs.frozen(kw_only=True)
class MemberRecord:
    """Membership of a user in a channel."""

    channel_id: str
    user_id: str
    role: Role
    added_by: str | None
    added_at: datetime


@attrs.frozen(kw_only=True)
class EnvelopeUpload:
    """A key sealed to one device, as uploaded."""

    recipient_device_id: str
    sealed_key: bytes
    signature: bytes


@attrs.frozen(kw_only=True)
class ChannelEnvelope:
    """A channel key envelope addressed to one device."""

    channel_id: str
    key_epoch: int
    sender_device_id: str
    recipient_device_id: str
    sealed_key: bytes
    signature: bytes
    created_at: datetime


@attrs.frozen(kw_only=True)
class DirectoryEnvelope:
    """A directory key envelope: `owner_user_id`'s directory key for one device."""

    owner_user_id: str
    key_epoch: int
    sender_device_id: str
    recipient_device_id: str
    sealed_key: bytes
    signature: bytes
    created_at: datetime


@attrs.frozen(kw_only=True)
class NewMessage:
    """A message to append; the server assigns `seq` and `server_ts`.

    Attributes:
        channel_id: Channel the message is posted to.
        client_msg_id: Sender's id, bound into the seal; with the sender device, the
            idempotency key of an append.
        sender_user_id: Authenticated sender (from the session, never from the client).
        sender_device_id: Authenticated sending device.
        key_epoch: Key epoch the fields are sealed under (must be the channel's current one).
        sealed_body: The sealed body.
        sealed_sender_name: The sealed sender display name.
        signature: The sending device's signature.
    """

    channel_id: str
    client_msg_id: str
    sender_user_id: str
    sender_device_id: str
    key_epoch: int
    sealed_body: bytes
    sealed_sender_name: bytes
    signature: bytes


@attrs.frozen(kw_only=True)
class MessageRecord:
    """A stored message with its server-assigned per-channel sequence number (fields as
    `dialtone.wire.http.ChannelMessage`)."""

    channel_id: str
    seq: int
    client_msg_id: str
    sender_user_id: str
    sender_device_id: str
    key_epoch: int
    sealed_body: bytes
    sealed_sender_name: bytes
    signature: bytes
    server_ts: datetime


@attrs.frozen(kw_only=True)
class AppendResult:
    """Outcome of `MessageStore.append`.

    Attributes:
        message: The stored message (the earlier one when `duplicate`).
        duplicate: True when this sender device already stored a message with this client id:
            nothing was written and nothing should be fanned out again, but the sender still
            gets its ack with the original `seq`.
    """

    message: MessageRecord
    duplicate: bool


@attrs.frozen(kw_only=True)
class ProfileRecord:
    """A user's directory profile (display name sealed with the user's directory key)."""

    user_id: str
    device_id: str
    key_epoch: int
    sealed_display_name: bytes
    signature: bytes
    updated_at: datetime


@attrs.frozen(kw_only=True)
class ReadMarker:
    """The last message a user has read in a channel."""

    user_id: str
    channel_id: str
    seq: int
    updated_at: datetime


@attrs.frozen(kw_only=True)
class PresenceRecord:
    """A user's chosen status and when they were last active (newest session use)."""

    user_id: str
    status: PresenceStatus
    last_seen_at: datetime | None
