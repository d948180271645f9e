"""The user's channels: the list and each channel's members, creating, renaming and deleting
channels, adding and removing members, key rotation, and the members' presence."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from dialtone.client.core import sealing
from dialtone.client.core.errors import ApiError, NoChannelKeyError, UserNotFoundError
from dialtone.client.core.events import (
    ChannelView,
    KeyRotated,
    MembersChanged,
    MemberView,
    MessageRejected,
    Notice,
    Presence,
)
from dialtone.client.core.keyexchange import KeyExchange
from dialtone.client.core.sending import OutboxSender
from dialtone.client.core.state import CoreState, KnownChannel
from dialtone.crypto import ChannelKey, Scope
from dialtone.wire import ErrorCode
from dialtone.wire import http as wire
from dialtone.wire.common import Role

__all__ = ["ChannelOps"]

log = logging.getLogger(__name__)

_FIRST_EPOCH = 1


class ChannelOps:
    """The user's channels, their members and keys.

    Args:
        state: The core's shared state.
        keys: The KeyExchange.
        sending: The OutboxSender.
    """

    def __init__(self, state: CoreState, keys: KeyExchange, sending: OutboxSender) -> None:
        self._state = state
        self._keys = keys
        self._sending = sending

    async def drop_channel(self, channel_id: str, why: str) -> None:
        """Forget a channel we are no longer in; its queued messages are rejected."""
        session = self._state.require()
        self._state.channels.pop(channel_id, None)
        self._state.cursors.pop(channel_id, None)
        session.keys.forget_channel(channel_id)
        for item in self._sending.queue.drop_channel(channel_id):
            self._state.emit(
                MessageRejected(
                    channel_id=channel_id,
                    client_msg_id=item.client_msg_id,
                    code=ErrorCode.NOT_FOUND,
                    message=why,
                )
            )
        await self._state.persist()
        self._state.channels_changed()

    def rotation_needed(self, channels: Iterable[KnownChannel]) -> None:
        """Mark channels for rotation; an owner or admin rotates at once."""
        # The remover rotates at once; otherwise an owner or admin online does, and anyone else
        # before their next message: the channel never carries on under a key a former member
        # or device holds.
        for channel in channels:
            channel.needs_rotation = True
            if channel.info.role in (Role.OWNER, Role.ADMIN):
                self._state.spawn(self.rotate_key(channel.channel_id), "rotating a channel key")

    def presence_seen(
        self, user_id: str, status: str, last_seen_at: datetime | None, *, always: bool = False
    ) -> None:
        """Record a user's presence and announce it if it changed (or `always`)."""
        presence = Presence(user_id=user_id, status=status, last_seen_at=last_seen_at)
        if always or self._state.presences.get(user_id) != presence:
            self._state.presences[user_id] = presence
            self._state.emit(presence)

    async def refresh_presence(self, channel_id: str) -> None:
        """Load the presence of a channel's members (events only say what changes later)."""
        if channel_id not in self._state.channels:
            return
        self._state.presence_watched.add(channel_id)
        try:
            entries = await self._state.api.presence(channel_id)
        except ApiError as exc:
            log.info("cannot load the presence of %s: %s", channel_id, exc)
            return
        for entry in entries:
            self.presence_seen(entry.user_id, str(entry.status), entry.last_seen_at)

    async def refresh_channels(self) -> tuple[ChannelView, ...]:
        """Fetch the channel list (and any envelopes waiting for this device)."""
        self._state.require()
        infos = await self._state.api.channels()
        seen = set()
        for info in infos:
            seen.add(info.channel_id)
            channel = self._state.channels.get(info.channel_id)
            if channel is None:
                channel = self._state.channels[info.channel_id] = KnownChannel(info=info)
                self._state.cursors.setdefault(info.channel_id, info.last_seq)
            channel.info = info
            channel.last_seq = max(channel.last_seq, info.last_seq)
            channel.read_seq = max(channel.read_seq, info.read_seq)
            if channel.members is None:
                await self.refresh_members(info.channel_id, emit=False)
        for channel_id in set(self._state.channels) - seen:
            self._state.channels.pop(channel_id, None)
            self._state.cursors.pop(channel_id, None)
        session = self._state.require()
        if any(
            session.keys.channel_key(c.channel_id, c.info.name.key_epoch) is None
            for c in self._state.channels.values()
        ):
            await self._keys.fetch_envelopes()
        self._keys.decrypt_names()
        self._state.channels_changed()
        return self._state.channel_views()

    async def refresh_channel(self, channel_id: str) -> KnownChannel:
        """Fetch one channel's info."""
        channel = self._state.channel_state(channel_id)
        info = await self._state.api.channel(channel_id)
        channel.info = info
        channel.last_seq = max(channel.last_seq, info.last_seq)
        return channel

    async def refresh_members(self, channel_id: str, *, emit: bool = True) -> None:
        """Fetch a channel's members (and announce them unless `emit` is false)."""
        channel = self._state.channels.get(channel_id)
        if channel is None:
            return
        try:
            members = await self._state.api.members(channel_id)
        except ApiError as exc:
            log.info("cannot list members of %s: %s", channel_id, exc)
            return
        channel.members = {m.user_id: m for m in members}
        if emit:
            self._state.emit(
                MembersChanged(channel_id=channel_id, members=self._member_views(channel))
            )

    def _member_views(self, channel: KnownChannel) -> tuple[MemberView, ...]:
        members = channel.members or {}
        views = [
            MemberView(
                user_id=m.user_id,
                display_name=self._state.display_name(m.user_id),
                role=str(m.role),
                presence=self._state.presence(m.user_id),
            )
            for m in members.values()
        ]
        return tuple(sorted(views, key=lambda v: (v.display_name.casefold(), v.user_id)))

    async def create_channel(self, name: str, members: Sequence[str] = ()) -> ChannelView:
        """Create a channel: a new key, the name sealed with it, envelopes to our trusted devices,
        then each of `members` added."""
        session = self._state.require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "channel name")
        channel_id = str(uuid.uuid4())
        key = ChannelKey.generate(Scope.channel(channel_id), _FIRST_EPOCH)
        own = await self._keys.observe_own_devices()
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            for known in own
            if known.bundle is not None
        )
        info = await self._state.api.create_channel(
            wire.ChannelCreateRequest(
                channel_id=channel_id,
                name=sealing.seal_channel_name(
                    session.identity, session.account.device_id, key, name
                ),
                envelopes=envelopes,
            )
        )
        session.keys.put_channel_key(key)
        await self._state.persist()
        channel = self._state.channels[channel_id] = KnownChannel(
            info=info, name=name, last_seq=info.last_seq, read_seq=info.read_seq
        )
        self._state.cursors.setdefault(channel_id, info.last_seq)
        await self.refresh_members(channel_id, emit=False)
        self._state.channels_changed()
        for username in members:
            await self.add_member(channel_id, username)
        return self._state.view(channel)

    async def rename_channel(self, channel_id: str, name: str) -> ChannelView:
        """Seal and set a new name (owner or admin)."""
        session = self._state.require()
        sealing.check_text(name, sealing.MAX_NAME_BYTES, "channel name")
        channel = await self.refresh_channel(channel_id)
        key = await self.current_key(channel)
        sealed = sealing.seal_channel_name(session.identity, session.account.device_id, key, name)
        channel.info = await self._state.api.rename_channel(channel_id, sealed)
        channel.name = name
        self._state.channels_changed()
        return self._state.view(channel)

    async def delete_channel(self, channel_id: str) -> None:
        """Delete a channel (owner) and forget its keys."""
        self._state.channel_state(channel_id)
        await self._state.api.delete_channel(channel_id)
        await self.drop_channel(channel_id, "the channel was deleted")

    async def members(self, channel_id: str) -> tuple[MemberView, ...]:
        """Fetch a channel's members."""
        channel = self._state.channel_state(channel_id)
        await self.refresh_members(channel_id, emit=False)
        return self._member_views(channel)

    async def current_key(self, channel: KnownChannel) -> ChannelKey:
        """The channel's current key, fetching envelopes once if missing."""
        session = self._state.require()
        key = session.keys.channel_key(channel.channel_id, channel.epoch)
        if key is None:
            await self._keys.fetch_envelopes(channel.channel_id)
            key = session.keys.channel_key(channel.channel_id, channel.epoch)
        if key is None:
            raise NoChannelKeyError(
                f"this device has no key for epoch {channel.epoch} of the channel yet"
            )
        return key

    async def resolve_user(self, user: str) -> str:
        """A user id from a user id (of a member) or a username."""
        for channel in self._state.channels.values():
            if channel.members is not None and user in channel.members:
                return user
        session = self._state.require()
        if session.book.knows_user(user):
            return user
        try:
            info = await self._state.api.lookup_user(user)
        except ApiError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise UserNotFoundError(f"no user {user!r}") from exc
            raise
        self._keys.observe(info.devices)
        return info.user_id

    async def add_member(self, channel_id: str, username: str, *, role: str = "member") -> None:
        """Add a user: the current key is sealed to each of their trusted devices (pinned on first
        use), and our directory key too."""
        session = self._state.require()
        channel = await self.refresh_channel(channel_id)
        try:
            info = await self._state.api.lookup_user(username)
        except ApiError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise UserNotFoundError(f"no user {username!r}") from exc
            raise
        self._keys.observe(info.devices)
        key = await self.current_key(channel)
        trusted = session.book.trusted_devices([info.user_id])
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, key)
            for known in trusted
            if known.bundle is not None
        )
        if not envelopes:
            self._state.emit(
                Notice(
                    text=f"{username} has no device this client trusts yet: they are added but "
                    "cannot read the channel until you verify them (/verify)"
                )
            )
        await self._state.api.add_member(
            channel_id,
            wire.MemberAddRequest(
                user_id=info.user_id, role=Role(role), key_epoch=key.epoch, envelopes=envelopes
            ),
        )
        await self._keys.share_directory_key(trusted)
        await self._state.persist()
        await self.refresh_members(channel_id)
        await self._keys.refresh_profiles((info.user_id,))

    async def remove_member(self, channel_id: str, user: str) -> None:
        """Remove a member (or leave, for ourselves) and rotate the channel to a new key epoch
        shared with the remaining trusted devices."""
        session = self._state.require()
        self._state.channel_state(channel_id)
        user_id = await self.resolve_user(user)
        await self._state.api.remove_member(channel_id, user_id)
        if user_id == session.account.user_id:
            await self.drop_channel(channel_id, "you left the channel")
            return
        await self.rotate_key(channel_id)
        await self.refresh_members(channel_id)

    async def rotate_key(self, channel_id: str) -> int:
        """Start a new key epoch for a channel, shared with every remaining trusted member
        device (or take the key of another device's rotation that came first)."""
        session = self._state.require()
        channel = await self.refresh_channel(channel_id)
        new_key = ChannelKey.generate(Scope.channel(channel_id), channel.epoch + 1)
        devices = await self._state.api.channel_devices(channel_id)
        self._keys.observe(devices)
        recipients = [
            known
            for info in devices
            if (known := session.book.get(info.device_id)) is not None
            and known.trusted
            and known.bundle is not None
        ]
        if not any(k.device_id == session.account.device_id for k in recipients):
            own = session.book.get(session.account.device_id)
            if own is not None:
                recipients.append(own)
        envelopes = tuple(
            sealing.envelope_upload(session.identity, known.device_id, known.bundle, new_key)
            for known in recipients
            if known.bundle is not None
        )
        name = (
            sealing.seal_channel_name(
                session.identity, session.account.device_id, new_key, channel.name
            )
            if channel.name is not None
            else None
        )
        try:
            epoch = await self._state.api.rotate(
                channel_id,
                wire.KeyRotateRequest(new_epoch=new_key.epoch, envelopes=envelopes, name=name),
            )
        except ApiError as exc:
            if exc.code != ErrorCode.STALE_EPOCH:
                raise
            channel = await self.refresh_channel(channel_id)
            await self._keys.fetch_envelopes(channel_id)
            channel.needs_rotation = False
            return channel.epoch
        session.keys.put_channel_key(new_key)
        await self._state.persist()
        channel.info = attrs.evolve(channel.info, current_epoch=epoch)
        if name is not None:
            channel.info = attrs.evolve(channel.info, name=name)
        channel.needs_rotation = False
        self._state.emit(KeyRotated(channel_id=channel_id, epoch=epoch, by_us=True, has_key=True))
        await self._sending.reseal_queued(channel_id)
        self._state.channels_changed()
        return epoch
