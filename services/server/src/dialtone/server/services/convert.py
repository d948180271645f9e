"""Storage records -> `dialtone.wire` objects (field names match, so this is mostly renaming)."""

from __future__ import annotations

from dialtone.server.storage.records import (
    ChannelEnvelope,
    ChannelName,
    ChannelView,
    DeviceKeys,
    DeviceRecord,
    DirectoryEnvelope,
    EnvelopeUpload,
    InviteRecord,
    MemberRecord,
    MessageRecord,
    ProfileRecord,
    SessionRecord,
)
from dialtone.wire import common, http


def device_keys_in(keys: common.DeviceKeys) -> DeviceKeys:
    """Wire device keys -> record."""
    return DeviceKeys(
        x25519_public=keys.x25519_public,
        ed25519_public=keys.ed25519_public,
        key_signature=keys.key_signature,
    )


def device(record: DeviceRecord) -> common.DeviceInfo:
    """Device record -> `DeviceInfo`."""
    return common.DeviceInfo(
        device_id=record.device_id,
        user_id=record.user_id,
        keys=common.DeviceKeys(
            x25519_public=record.keys.x25519_public,
            ed25519_public=record.keys.ed25519_public,
            key_signature=record.keys.key_signature,
        ),
        status=common.DeviceStatus(record.status),
        created_at=record.created_at,
        approved_by=record.approved_by,
        approval_signature=record.approval_signature,
        revoked_at=record.revoked_at,
    )


def session(record: SessionRecord, *, current_session_id: str) -> http.SessionInfo:
    """Session record -> `SessionInfo`."""
    return http.SessionInfo(
        session_id=record.session_id,
        device_id=record.device_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
        last_used_at=record.last_used_at,
        current=record.session_id == current_session_id,
    )


def invite(record: InviteRecord) -> http.InviteInfo:
    """Invite record -> `InviteInfo`."""
    return http.InviteInfo(
        invite_id=record.invite_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
        created_by=record.created_by,
        note=record.note,
        used_at=record.used_at,
        used_by=record.used_by,
        revoked_at=record.revoked_at,
    )


def channel_name_in(name: http.ChannelName) -> ChannelName:
    """Wire channel name -> record."""
    return ChannelName(
        key_epoch=name.key_epoch,
        device_id=name.device_id,
        sealed_name=name.sealed_name,
        signature=name.signature,
    )


def channel_name(name: ChannelName) -> http.ChannelName:
    """Channel name record -> wire."""
    return http.ChannelName(
        key_epoch=name.key_epoch,
        device_id=name.device_id,
        sealed_name=name.sealed_name,
        signature=name.signature,
    )


def channel(view: ChannelView) -> http.ChannelInfo:
    """Channel as a member sees it -> `ChannelInfo`."""
    record = view.channel
    return http.ChannelInfo(
        channel_id=record.channel_id,
        name=channel_name(record.name),
        current_epoch=record.current_epoch,
        role=common.Role(view.role),
        created_at=record.created_at,
        updated_at=record.updated_at,
        last_seq=record.last_seq,
        read_seq=view.read_seq,
    )


def member(record: MemberRecord) -> http.MemberInfo:
    """Membership record -> `MemberInfo`."""
    return http.MemberInfo(
        user_id=record.user_id,
        role=common.Role(record.role),
        added_at=record.added_at,
        added_by=record.added_by,
    )


def envelopes_in(uploads: tuple[http.EnvelopeUpload, ...]) -> list[EnvelopeUpload]:
    """Wire envelope uploads -> records."""
    return [
        EnvelopeUpload(
            recipient_device_id=upload.recipient_device_id,
            sealed_key=upload.sealed_key,
            signature=upload.signature,
        )
        for upload in uploads
    ]


def channel_envelope(record: ChannelEnvelope) -> http.KeyEnvelope:
    """Channel envelope record -> `KeyEnvelope`."""
    return http.KeyEnvelope(
        channel_id=record.channel_id,
        key_epoch=record.key_epoch,
        sender_device_id=record.sender_device_id,
        recipient_device_id=record.recipient_device_id,
        sealed_key=record.sealed_key,
        signature=record.signature,
        created_at=record.created_at,
    )


def directory_envelope(record: DirectoryEnvelope) -> http.DirectoryEnvelope:
    """Directory envelope record -> wire."""
    return http.DirectoryEnvelope(
        owner_user_id=record.owner_user_id,
        key_epoch=record.key_epoch,
        sender_device_id=record.sender_device_id,
        recipient_device_id=record.recipient_device_id,
        sealed_key=record.sealed_key,
        signature=record.signature,
        created_at=record.created_at,
    )


def message(record: MessageRecord) -> http.ChannelMessage:
    """Message record -> `ChannelMessage`."""
    return http.ChannelMessage(
        channel_id=record.channel_id,
        seq=record.seq,
        client_msg_id=record.client_msg_id,
        sender_user_id=record.sender_user_id,
        sender_device_id=record.sender_device_id,
        key_epoch=record.key_epoch,
        sealed_body=record.sealed_body,
        sealed_sender_name=record.sealed_sender_name,
        signature=record.signature,
        server_ts=record.server_ts,
    )


def profile(record: ProfileRecord) -> http.ProfileInfo:
    """Profile record -> `ProfileInfo`."""
    return http.ProfileInfo(
        user_id=record.user_id,
        device_id=record.device_id,
        key_epoch=record.key_epoch,
        sealed_display_name=record.sealed_display_name,
        signature=record.signature,
        updated_at=record.updated_at,
    )
