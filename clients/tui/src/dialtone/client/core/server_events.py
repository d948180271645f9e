"""The realtime link's callbacks (`LinkHandler`): the connection's state, the resume after a
reconnect, and every server event, each handled by one method."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import attrs

from dialtone.client.core.channels import ChannelOps
from dialtone.client.core.decrypt import decrypt_one
from dialtone.client.core.errors import ApiError, CoreError
from dialtone.client.core.events import (
    Connected,
    ConnectionState,
    DevicesChanged,
    Error,
    FailedMessage,
    HistoryItem,
    KeyRotated,
    MessageFailed,
    MessageReceived,
    MessageRejected,
    NewDeviceNeedsApproval,
    Notice,
    Offline,
    ReadMarker,
    Reconnecting,
    Synced,
    Typing,
)
from dialtone.client.core.keyexchange import KeyExchange
from dialtone.client.core.sending import OutboxSender
from dialtone.client.core.state import CoreState
from dialtone.wire import ErrorCode, limits
from dialtone.wire import http as wire
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import ChannelCursor, DeviceStatus

__all__ = ["ServerEvents"]

log = logging.getLogger(__name__)

_CATCH_UP_PAGES = 50
_TRY_AGAIN = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL_ERROR})
"""Error codes after which a refused message is sent again later."""
_VOICE_REFUSALS = frozenset({ErrorCode.FORBIDDEN, ErrorCode.CONFLICT, ErrorCode.NOT_FOUND})
"""Error codes with which the server refuses a ``voice.join`` (its ``ref`` is the channel id;
servers before that sent none)."""


class ServerEvents:
    """What the client does with each server event (the core's `LinkHandler`).

    Args:
        state: The core's shared state.
        keys: The KeyExchange.
        channels: The ChannelOps.
        sending: The OutboxSender.
    """

    def __init__(
        self, state: CoreState, keys: KeyExchange, channels: ChannelOps, sending: OutboxSender
    ) -> None:
        self._state = state
        self._keys = keys
        self._channel_ops = channels
        self._sending = sending

    def resume_cursors(self) -> tuple[ChannelCursor, ...]:
        """The last sequence number held per channel, for ``hello`` (LinkHandler)."""
        return tuple(
            ChannelCursor(channel_id=channel_id, seq=seq)
            for channel_id, seq in sorted(self._state.cursors.items())
        )[: limits.MAX_CHANNELS_PER_USER]

    async def on_connected(self, ready: wire_ws.Ready, generation: int) -> None:
        """A connection was authenticated (LinkHandler)."""
        self._state.connection = ConnectionState.ONLINE
        self._state.replayed = 0
        self._state.emit(
            Connected(
                user_id=ready.user_id,
                device_id=ready.device_id,
                protocol_version=ready.protocol_version,
            )
        )
        if self._state.voice is not None:
            await self._state.voice.rejoin_server()

    def on_down(self, reason: str, attempt: int, delay: float) -> None:
        """The connection is down; a retry follows (LinkHandler)."""
        self._state.connection = ConnectionState.RECONNECTING
        self._state.emit(Reconnecting(attempt=attempt, delay=delay, reason=reason))

    def on_stopped(self, reason: str) -> None:
        """The link gave up or was stopped (LinkHandler)."""
        self._state.connection = ConnectionState.OFFLINE
        # The server ends a revoked device's sessions, so its last close may look like any
        # expired session: say what really happened when we were told.
        self._state.emit(
            Offline(reason="this device was revoked" if self._state.revoked else reason)
        )

    async def on_event(self, event: wire_ws.ServerEvent) -> None:
        """One server event, in order (LinkHandler)."""
        try:
            await self._dispatch(event)
        except CoreError as exc:
            self._state.emit(Error(text=f"handling {type(event).__name__}: {exc}"))
        except Exception as exc:
            log.exception("handling %r failed", event)
            self._state.emit(Error(text=f"handling {type(event).__name__} failed: {exc}"))

    async def _dispatch(self, event: wire_ws.ServerEvent) -> None:
        if self._state.voice is not None and await self._state.voice.handle_ws(event):
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            await handler(self, event)

    async def _on_resume_done(self, event: wire_ws.ResumeDone) -> None:
        for cursor in event.cursors:
            channel = self._state.channels.get(cursor.channel_id)
            if channel is not None:
                channel.last_seq = max(channel.last_seq, cursor.seq)
        for channel_id in event.truncated:
            await self._catch_up(channel_id)
        if self._state.synced_once:
            await self._channel_ops.refresh_channels()
            await self._keys.observe_own_devices()
            # Presence changes while we were away were not replayed: ask again.
            for channel_id in sorted(self._state.presence_watched):
                await self._channel_ops.refresh_presence(channel_id)
        self._state.synced_once = True
        await self._keys.fetch_envelopes()
        sent = await self._sending.flush_outbox()
        await self._state.persist()
        self._state.channels_changed()
        self._state.emit(Synced(replayed=self._state.replayed, sent_from_queue=sent))

    async def _catch_up(self, channel_id: str) -> None:
        """Fetch over HTTP what a resume could not replay (a long gap)."""
        for _ in range(_CATCH_UP_PAGES):
            after = self._state.cursors.get(channel_id, 0)
            page = await self._state.api.history(
                channel_id, wire.HistoryQuery(after=after, limit=limits.MAX_HISTORY_LIMIT)
            )
            for message in page.messages:
                await self._on_message(wire_ws.MessageNew(message=message))
            if not page.has_more or not page.messages:
                return

    async def _on_message(self, event: wire_ws.MessageNew) -> None:
        session = self._state.require()
        message = event.message
        channel = self._state.channels.get(message.channel_id)
        if channel is None:
            await self._channel_ops.refresh_channels()
            channel = self._state.channels.get(message.channel_id)
            if channel is None:
                return
        self._state.replayed += 1
        self._state.cursors[message.channel_id] = max(
            self._state.cursors.get(message.channel_id, 0), message.seq
        )
        if message.sender_device_id == session.account.device_id:
            await self._sending.acked(
                message.channel_id, message.client_msg_id, message.seq, message.server_ts
            )
        await self._keys.prepare(message.channel_id, (message,))
        key = session.keys.channel_key(message.channel_id, message.key_epoch)
        item = decrypt_one(
            message,
            key,
            self._keys.sender_snapshot(message.sender_device_id),
            own_user_id=session.account.user_id,
            now=datetime.now(UTC),
        )
        channel.last_seq = max(channel.last_seq, message.seq)
        if (
            message.sender_user_id == session.account.user_id
            and channel.read_seq >= message.seq - 1
        ):
            channel.read_seq = max(channel.read_seq, message.seq)
        self._emit_item(item)
        self._state.channels_changed()

    def _emit_item(self, item: HistoryItem) -> None:
        if isinstance(item, FailedMessage):
            self._state.emit(MessageFailed(channel_id=item.channel_id, message=item))
        else:
            self._state.emit(MessageReceived(channel_id=item.channel_id, message=item))

    async def _on_ack(self, event: wire_ws.MessageAck) -> None:
        await self._sending.acked(event.channel_id, event.client_msg_id, event.seq, event.server_ts)
        self._state.channels_changed()

    async def _on_error(self, event: wire_ws.ErrorEvent) -> None:
        item = self._sending.queue.get(event.ref) if event.ref is not None else None
        if event.code in _TRY_AGAIN:
            # The server may not say which frame it refused: every message not acked yet is sent
            # again after a growing pause (a repeat is stored once, so this is always safe).
            self._sending.schedule_resend()
            return
        if item is None:
            if (
                event.code in _VOICE_REFUSALS
                and self._state.voice is not None
                and await self._state.voice.server_refused(event.message, ref=event.ref)
            ):
                return
            self._state.emit(Error(text=event.message, code=event.code))
            return
        if event.code == ErrorCode.STALE_EPOCH:
            await self._channel_ops.refresh_channel(item.channel_id)
            await self._keys.fetch_envelopes(item.channel_id)
            if self._sending.reseal(item):
                await self._sending.send_item(item)
            else:
                self._state.emit(
                    Notice(
                        text="a queued message waits for this channel's new key before it can "
                        "be sent"
                    )
                )
            return
        self._sending.queue.pop(item.client_msg_id)
        self._state.emit(
            MessageRejected(
                channel_id=item.channel_id,
                client_msg_id=item.client_msg_id,
                code=event.code,
                message=event.message,
            )
        )

    async def _on_channel_updated(self, event: wire_ws.ChannelUpdated) -> None:
        channel = self._state.channels.get(event.channel_id)
        if channel is None:
            await self._channel_ops.refresh_channels()
            return
        channel.info = attrs.evolve(
            channel.info,
            name=event.name,
            current_epoch=event.current_epoch,
            updated_at=event.updated_at,
        )
        if self._state.require().keys.channel_key(event.channel_id, event.name.key_epoch) is None:
            await self._keys.fetch_envelopes(event.channel_id)
        self._keys.decrypt_names((channel,))
        self._state.channels_changed()

    async def _on_channel_deleted(self, event: wire_ws.ChannelDeleted) -> None:
        await self._channel_ops.drop_channel(event.channel_id, "the channel was deleted")

    async def _on_member_added(self, event: wire_ws.MemberAdded) -> None:
        session = self._state.require()
        if event.user_id == session.account.user_id:
            await self._channel_ops.refresh_channels()
            await self._keys.observe_channel_devices(event.channel_id)
            await self._keys.fetch_envelopes(event.channel_id)
            self._keys.decrypt_names()
            await self._keys.share_directory_key(self._keys.co_member_devices())
            await self._keys.refresh_profiles(self._keys.co_member_ids())
            await self._state.persist()
            self._state.channels_changed()
            await self._channel_ops.refresh_presence(event.channel_id)
            return
        await self._channel_ops.refresh_members(event.channel_id)
        devices = await self._state.api.user_devices(event.user_id)
        self._keys.observe(devices)
        await self._keys.share_directory_key(session.book.trusted_devices([event.user_id]))
        await self._keys.refresh_profiles((event.user_id,))
        await self._state.persist()
        if event.channel_id in self._state.presence_watched:
            # The newcomer may have been online all along: no presence change would say so.
            await self._channel_ops.refresh_presence(event.channel_id)

    async def _on_member_updated(self, event: wire_ws.MemberUpdated) -> None:
        if event.user_id == self._state.require().account.user_id:
            await self._channel_ops.refresh_channel(event.channel_id)
            self._state.channels_changed()
        await self._channel_ops.refresh_members(event.channel_id)

    async def _on_member_removed(self, event: wire_ws.MemberRemoved) -> None:
        session = self._state.require()
        if event.user_id == session.account.user_id:
            await self._channel_ops.drop_channel(
                event.channel_id, "you are no longer in the channel"
            )
            return
        channel = self._state.channels.get(event.channel_id)
        if channel is None:
            return
        await self._channel_ops.refresh_members(event.channel_id)
        if event.removed_by != session.account.user_id:
            self._channel_ops.rotation_needed((channel,))

    async def _on_typing(self, event: wire_ws.Typing) -> None:
        if event.user_id != self._state.require().account.user_id:
            self._state.emit(
                Typing(
                    channel_id=event.channel_id,
                    user_id=event.user_id,
                    display_name=self._state.display_name(event.user_id),
                )
            )

    async def _on_read_marker(self, event: wire_ws.ReadMarker) -> None:
        channel = self._state.channels.get(event.channel_id)
        if channel is not None and event.seq > channel.read_seq:
            channel.read_seq = event.seq
            self._state.channels_changed()
        self._state.emit(ReadMarker(channel_id=event.channel_id, seq=event.seq))

    async def _on_key_rotated(self, event: wire_ws.KeyRotated) -> None:
        session = self._state.require()
        channel = self._state.channels.get(event.channel_id)
        if channel is None:
            return
        if event.key_epoch > channel.epoch:
            channel.info = attrs.evolve(channel.info, current_epoch=event.key_epoch)
        if event.rotated_by == session.account.device_id:
            return
        channel.needs_rotation = False
        await self._keys.fetch_envelopes(event.channel_id)
        has_key = session.keys.channel_key(event.channel_id, event.key_epoch) is not None
        self._state.emit(
            KeyRotated(
                channel_id=event.channel_id, epoch=event.key_epoch, by_us=False, has_key=has_key
            )
        )
        await self._sending.reseal_queued(event.channel_id)
        self._state.channels_changed()

    async def _on_envelope(self, event: wire_ws.EnvelopeAvailable) -> None:
        if event.channel_id not in self._state.channels:
            await self._channel_ops.refresh_channels()
        await self._keys.fetch_envelopes(event.channel_id)
        channel = self._state.channels.get(event.channel_id)
        if channel is not None:
            self._keys.decrypt_names((channel,))
            await self._sending.reseal_queued(event.channel_id)
        self._state.channels_changed()

    async def _on_directory_envelope(self, event: wire_ws.DirectoryEnvelopeAvailable) -> None:
        await self._keys.fetch_directory()
        await self._keys.refresh_profiles((event.owner_user_id,))

    async def _on_device_joined(self, event: wire_ws.DeviceJoined) -> None:
        session = self._state.require()
        device = event.device
        self._keys.observe((device,))
        known = session.book.get(device.device_id)
        if device.user_id == session.account.user_id and device.status is DeviceStatus.PENDING:
            if known is not None:
                self._state.emit(NewDeviceNeedsApproval(device=session.book.view(known)))
        elif known is not None and known.trusted:
            await self._keys.share_directory_key((known,))
        await self._state.persist()
        self._state.emit(
            DevicesChanged(user_id=device.user_id, devices=session.book.views(device.user_id))
        )

    async def _on_device_revoked(self, event: wire_ws.DeviceRevoked) -> None:
        session = self._state.require()
        try:
            devices = await self._state.api.user_devices(event.user_id)
        except ApiError:
            devices = ()
        self._keys.observe(devices)
        await self._state.persist()
        self._state.emit(
            DevicesChanged(user_id=event.user_id, devices=session.book.views(event.user_id))
        )
        if event.device_id == session.account.device_id:
            self._state.revoked = True
            return
        shared = [
            channel
            for channel in self._state.channels.values()
            if channel.members is None or event.user_id in channel.members
        ]
        if event.user_id != session.account.user_id:
            self._channel_ops.rotation_needed(shared)

    async def _on_profile(self, event: wire_ws.ProfileUpdated) -> None:
        self._keys.open_profile(event.profile)

    async def _on_presence(self, event: wire_ws.PresenceChanged) -> None:
        self._channel_ops.presence_seen(
            event.user_id, str(event.status), event.last_seen_at, always=True
        )


_Handler = Callable[[ServerEvents, Any], Coroutine[Any, Any, None]]

_HANDLERS: dict[type, _Handler] = {
    wire_ws.ResumeDone: ServerEvents._on_resume_done,
    wire_ws.MessageNew: ServerEvents._on_message,
    wire_ws.MessageAck: ServerEvents._on_ack,
    wire_ws.ErrorEvent: ServerEvents._on_error,
    wire_ws.ChannelUpdated: ServerEvents._on_channel_updated,
    wire_ws.ChannelDeleted: ServerEvents._on_channel_deleted,
    wire_ws.MemberAdded: ServerEvents._on_member_added,
    wire_ws.MemberUpdated: ServerEvents._on_member_updated,
    wire_ws.MemberRemoved: ServerEvents._on_member_removed,
    wire_ws.Typing: ServerEvents._on_typing,
    wire_ws.ReadMarker: ServerEvents._on_read_marker,
    wire_ws.KeyRotated: ServerEvents._on_key_rotated,
    wire_ws.EnvelopeAvailable: ServerEvents._on_envelope,
    wire_ws.DirectoryEnvelopeAvailable: ServerEvents._on_directory_envelope,
    wire_ws.DeviceJoined: ServerEvents._on_device_joined,
    wire_ws.DeviceRevoked: ServerEvents._on_device_revoked,
    wire_ws.ProfileUpdated: ServerEvents._on_profile,
    wire_ws.PresenceChanged: ServerEvents._on_presence,
}
"""Server event type to handler (voice events go to the voice relay first)."""
