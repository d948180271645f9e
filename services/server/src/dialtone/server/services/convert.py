"""Storage records <-> `dialtone.wire` objects.

Record fields are named after the wire fields they become, so most conversions copy the fields the
target type declares (`_copy`) and only enums and nested objects need a hand.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import attrs

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

T = TypeVar("T")


def _copy(cls: type[T], source: object, **overrides: Any) -> T:
    """Build `cls` from the attributes of `source` named like `cls`'s fields."""
    values = {
        field.name: getattr(source, field.name)
        for field in attrs.fields(cast(Any, cls))
        if field.name not in overrides and hasattr(source, field.name)
    }
    return cls(**values, **overrides)


def device_keys_in(keys: common.DeviceKeys) -> DeviceKeys:
    """Wire device keys -> record."""
    return _copy(DeviceKeys, keys)


def device(record: DeviceRecord) -> common.DeviceInfo:
    """Device record -> `DeviceInfo`."""
    return _copy(
        common.DeviceInfo,
        record,
        keys=_copy(common.DeviceKeys, record.keys),
        status=common.DeviceStatus(record.status),
    )


def session(record: SessionRecord, *, current_session_id: str) -> http.SessionInfo:
    """Session record -> `SessionInfo`."""
    return _copy(http.SessionInfo, record, current=record.session_id == current_session_id)


def invite(record: InviteRecord) -> http.InviteInfo:
    """Invite record -> `InviteInfo`."""
    return _copy(http.InviteInfo, record)


def channel_name_in(name: http.ChannelName) -> ChannelName:
    """Wire channel name -> record."""
    return _copy(ChannelName, name)


def channel_name(name: ChannelName) -> http.ChannelName:
    """Channel name record -> wire."""
    return _copy(http.ChannelName, name)


def channel(view: ChannelView) -> http.ChannelInfo:
    """Channel as a member sees it -> `ChannelInfo`."""
    return _copy(
        http.ChannelInfo,
        view.channel,
        name=channel_name(view.channel.name),
        role=common.Role(view.role),
        read_seq=view.read_seq,
    )


def member(record: MemberRecord) -> http.MemberInfo:
    """Membership record -> `MemberInfo`."""
    return _copy(http.MemberInfo, record, role=common.Role(record.role))


def envelopes_in(uploads: tuple[http.EnvelopeUpload, ...]) -> list[EnvelopeUpload]:
    """Wire envelope uploads -> records."""
    return [_copy(EnvelopeUpload, upload) for upload in uploads]


def channel_envelope(record: ChannelEnvelope) -> http.KeyEnvelope:
    """Channel envelope record -> `KeyEnvelope`."""
    return _copy(http.KeyEnvelope, record)


def directory_envelope(record: DirectoryEnvelope) -> http.DirectoryEnvelope:
    """Directory envelope record -> wire."""
    return _copy(http.DirectoryEnvelope, record)


def message(record: MessageRecord) -> http.ChannelMessage:
    """Message record -> `ChannelMessage`."""
    return _copy(http.ChannelMessage, record)


def profile(record: ProfileRecord) -> http.ProfileInfo:
    """Profile record -> `ProfileInfo`."""
    return _copy(http.ProfileInfo, record)
