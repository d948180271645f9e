"""Column lists and row-to-record conversion shared by the stores."""

from __future__ import annotations

from typing import Any

from dialtone.server.storage.records import (
    ChannelEnvelope,
    ChannelName,
    ChannelRecord,
    DeviceKeys,
    DeviceRecord,
    DirectoryEnvelope,
    InviteRecord,
    MemberRecord,
    MessageRecord,
    ProfileRecord,
    ReadMarker,
    SessionRecord,
    UserRecord,
)

# asyncpg.Record is untyped; this module is the one place that reads columns by name.
Row = Any

USER_COLUMNS = "id, username_hash, password_hash, is_admin, created_at"
DEVICE_COLUMNS = (
    "id, user_id, x25519_public, ed25519_public, key_signature, created_at, approved_at, "
    "approved_by, approval_signature, revoked_at"
)
SESSION_COLUMNS = "id, user_id, device_id, created_at, expires_at, last_used_at"
INVITE_COLUMNS = "id, created_by, note, created_at, expires_at, used_at, used_by, revoked_at"
CHANNEL_COLUMNS = (
    "c.id, c.key_epoch, c.name_epoch, c.name_device_id, c.sealed_name, c.name_signature, "
    "c.created_by, c.created_at, c.updated_at, s.last_seq"
)
MEMBER_COLUMNS = "channel_id, user_id, role, added_by, added_at"
CHANNEL_ENVELOPE_COLUMNS = (
    "channel_id, key_epoch, sender_device_id, recipient_device_id, sealed_key, signature, "
    "created_at"
)
DIRECTORY_ENVELOPE_COLUMNS = (
    "owner_user_id, key_epoch, sender_device_id, recipient_device_id, sealed_key, signature, "
    "created_at"
)
MESSAGE_COLUMNS = (
    "channel_id, seq, client_msg_id, sender_user_id, sender_device_id, key_epoch, sealed_body, "
    "sealed_sender_name, signature, server_ts"
)
PROFILE_COLUMNS = "user_id, device_id, key_epoch, sealed_display_name, signature, updated_at"
READ_MARKER_COLUMNS = "user_id, channel_id, seq, updated_at"


def text_id(value: object) -> str:
    """Return a uuid column's value as the wire's lowercase text form."""
    return str(value)


def opt_text_id(value: object) -> str | None:
    """Return a nullable uuid column's value as text, or None."""
    return None if value is None else str(value)


def user(row: Row) -> UserRecord:
    """Build a `UserRecord` from a row with `USER_COLUMNS`."""
    return UserRecord(
        user_id=text_id(row["id"]),
        username_hash=bytes(row["username_hash"]),
        password_hash=row["password_hash"],
        is_admin=row["is_admin"],
        created_at=row["created_at"],
    )


def device(row: Row) -> DeviceRecord:
    """Build a `DeviceRecord` from a row with `DEVICE_COLUMNS`."""
    signature = row["approval_signature"]
    return DeviceRecord(
        device_id=text_id(row["id"]),
        user_id=text_id(row["user_id"]),
        keys=DeviceKeys(
            x25519_public=bytes(row["x25519_public"]),
            ed25519_public=bytes(row["ed25519_public"]),
            key_signature=bytes(row["key_signature"]),
        ),
        created_at=row["created_at"],
        approved_at=row["approved_at"],
        approved_by=opt_text_id(row["approved_by"]),
        approval_signature=None if signature is None else bytes(signature),
        revoked_at=row["revoked_at"],
    )


def session(row: Row) -> SessionRecord:
    """Build a `SessionRecord` from a row with `SESSION_COLUMNS`."""
    return SessionRecord(
        session_id=text_id(row["id"]),
        user_id=text_id(row["user_id"]),
        device_id=text_id(row["device_id"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


def invite(row: Row) -> InviteRecord:
    """Build an `InviteRecord` from a row with `INVITE_COLUMNS`."""
    return InviteRecord(
        invite_id=text_id(row["id"]),
        created_by=opt_text_id(row["created_by"]),
        note=row["note"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        used_by=opt_text_id(row["used_by"]),
        revoked_at=row["revoked_at"],
    )


def channel(row: Row) -> ChannelRecord:
    """Build a `ChannelRecord` from a row with `CHANNEL_COLUMNS`."""
    return ChannelRecord(
        channel_id=text_id(row["id"]),
        name=ChannelName(
            key_epoch=row["name_epoch"],
            device_id=text_id(row["name_device_id"]),
            sealed_name=bytes(row["sealed_name"]),
            signature=bytes(row["name_signature"]),
        ),
        current_epoch=row["key_epoch"],
        created_by=opt_text_id(row["created_by"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_seq=row["last_seq"],
    )


def member(row: Row) -> MemberRecord:
    """Build a `MemberRecord` from a row with `MEMBER_COLUMNS`."""
    return MemberRecord(
        channel_id=text_id(row["channel_id"]),
        user_id=text_id(row["user_id"]),
        role=row["role"],
        added_by=opt_text_id(row["added_by"]),
        added_at=row["added_at"],
    )


def channel_envelope(row: Row) -> ChannelEnvelope:
    """Build a `ChannelEnvelope` from a row with `CHANNEL_ENVELOPE_COLUMNS`."""
    return ChannelEnvelope(
        channel_id=text_id(row["channel_id"]),
        key_epoch=row["key_epoch"],
        sender_device_id=text_id(row["sender_device_id"]),
        recipient_device_id=text_id(row["recipient_device_id"]),
        sealed_key=bytes(row["sealed_key"]),
        signature=bytes(row["signature"]),
        created_at=row["created_at"],
    )


def directory_envelope(row: Row) -> DirectoryEnvelope:
    """Build a `DirectoryEnvelope` from a row with `DIRECTORY_ENVELOPE_COLUMNS`."""
    return DirectoryEnvelope(
        owner_user_id=text_id(row["owner_user_id"]),
        key_epoch=row["key_epoch"],
        sender_device_id=text_id(row["sender_device_id"]),
        recipient_device_id=text_id(row["recipient_device_id"]),
        sealed_key=bytes(row["sealed_key"]),
        signature=bytes(row["signature"]),
        created_at=row["created_at"],
    )


def message(row: Row) -> MessageRecord:
    """Build a `MessageRecord` from a row with `MESSAGE_COLUMNS`."""
    return MessageRecord(
        channel_id=text_id(row["channel_id"]),
        seq=row["seq"],
        client_msg_id=row["client_msg_id"],
        sender_user_id=text_id(row["sender_user_id"]),
        sender_device_id=text_id(row["sender_device_id"]),
        key_epoch=row["key_epoch"],
        sealed_body=bytes(row["sealed_body"]),
        sealed_sender_name=bytes(row["sealed_sender_name"]),
        signature=bytes(row["signature"]),
        server_ts=row["server_ts"],
    )


def profile(row: Row) -> ProfileRecord:
    """Build a `ProfileRecord` from a row with `PROFILE_COLUMNS`."""
    return ProfileRecord(
        user_id=text_id(row["user_id"]),
        device_id=text_id(row["device_id"]),
        key_epoch=row["key_epoch"],
        sealed_display_name=bytes(row["sealed_display_name"]),
        signature=bytes(row["signature"]),
        updated_at=row["updated_at"],
    )


def read_marker(row: Row) -> ReadMarker:
    """Build a `ReadMarker` from a row with `READ_MARKER_COLUMNS`."""
    return ReadMarker(
        user_id=text_id(row["user_id"]),
        channel_id=text_id(row["channel_id"]),
        seq=row["seq"],
        updated_at=row["updated_at"],
    )
