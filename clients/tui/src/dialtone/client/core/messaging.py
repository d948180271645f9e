"""Messages: sending, history pages verified and decrypted in worker threads, read markers,
typing notices and our presence."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from dialtone.client.core import sealing
from dialtone.client.core.channels import ChannelOps
from dialtone.client.core.decrypt import SenderSnapshot, decrypt_batch
from dialtone.client.core.errors import ApiError, CoreError
from dialtone.client.core.events import (
    DecryptedMessage,
    DeviceTrust,
    HistoryItem,
    HistoryLoaded,
    HistoryPage,
    MessageQueued,
)
from dialtone.client.core.keyexchange import KeyExchange
from dialtone.client.core.outbox import Outgoing
from dialtone.client.core.sending import OutboxSender
from dialtone.client.core.state import CoreState
from dialtone.crypto import new_message_id
from dialtone.wire import http as wire
from dialtone.wire import ws as wire_ws
from dialtone.wire.common import PresenceStatus

__all__ = ["Messaging"]

log = logging.getLogger(__name__)

_TYPING_INTERVAL_S = 3.0


class Messaging:
    """Messages to and from the user's channels.

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
        self._typing_sent: dict[str, float] = {}
        """When we last said we are typing, per channel (monotonic clock)."""

    async def send_message(self, channel_id: str, body: str) -> DecryptedMessage:
        """Seal, sign and send a message; offline, it is queued and sent on reconnect with the
        same client message id (the server stores it once)."""
        session = self._state.require()
        sealing.check_text(body, sealing.MAX_BODY_BYTES, "message")
        if not body:
            raise ValueError("an empty message")
        channel = self._state.channel_state(channel_id)
        if channel.needs_rotation and self._state.link is not None and self._state.link.online:
            with contextlib.suppress(ApiError):
                await self._channel_ops.rotate_key(channel_id)
        key = await self._channel_ops.current_key(channel)
        client_msg_id = new_message_id()
        sender_name = self._state.profiles.get(session.account.user_id, session.account.username)
        frame = sealing.seal_chat(
            session.identity, key, body=body, sender_name=sender_name, client_msg_id=client_msg_id
        )
        view = DecryptedMessage(
            channel_id=channel_id,
            seq=None,
            client_msg_id=client_msg_id,
            sender_user_id=session.account.user_id,
            sender_device_id=session.account.device_id,
            sender_name=sender_name,
            body=body,
            server_ts=None,
            created_at=datetime.now(UTC),
            epoch=key.epoch,
            own=True,
            pending=True,
            sender_trust=DeviceTrust.OWN,
        )
        item = Outgoing(frame=frame, view=view)
        self._sending.queue.add(item)
        self._state.emit(MessageQueued(channel_id=channel_id, message=view))
        await self._sending.send_item(item)
        return view

    async def open_channel(self, channel_id: str) -> HistoryPage:
        """The newest page of a channel, verified and decrypted in worker threads; the presence
        of its members is loaded too (`Presence` events), and kept up to date from then on.
        """
        page, _ = await asyncio.gather(
            self.load_history(channel_id), self._channel_ops.refresh_presence(channel_id)
        )
        return page

    async def load_history(
        self, channel_id: str, *, before: int | None = None, limit: int | None = None
    ) -> HistoryPage:
        """A page of history older than `before` (newest page if None), decrypted off the loop."""
        self._state.require()
        self._state.channel_state(channel_id)
        query = wire.HistoryQuery(
            before=before, limit=limit or self._state.options.history_page_size
        )
        page = await self._state.api.history(channel_id, query)
        await self._keys.prepare(channel_id, page.messages)
        items = await self.decrypt_messages(channel_id, page.messages)
        result = HistoryPage(channel_id=channel_id, items=tuple(items), has_more=page.has_more)
        self._state.emit(HistoryLoaded(page=result))
        return result

    async def decrypt_messages(
        self, channel_id: str, messages: Sequence[wire.ChannelMessage]
    ) -> list[HistoryItem]:
        """Verify and decrypt messages of one channel in worker-thread batches."""
        session = self._state.require()
        if not messages:
            return []
        keys = {key.epoch: key for key in session.keys.channel_keys(channel_id)}
        senders: dict[str, SenderSnapshot] = {}
        for device_id in {message.sender_device_id for message in messages}:
            snapshot = self._keys.sender_snapshot(device_id)
            if snapshot is not None:
                senders[device_id] = snapshot
        loop = asyncio.get_running_loop()
        size = self._state.options.decrypt_batch_size
        work = [
            loop.run_in_executor(
                self._state.executor,
                functools.partial(
                    decrypt_batch,
                    messages[start : start + size],
                    keys,
                    senders,
                    own_user_id=session.account.user_id,
                    now=datetime.now(UTC),
                ),
            )
            for start in range(0, len(messages), size)
        ]
        items: list[HistoryItem] = []
        for batch in await asyncio.gather(*work):
            items.extend(batch)
        return items

    async def mark_read(self, channel_id: str, seq: int) -> None:
        """Move the read marker (never backwards)."""
        channel = self._state.channel_state(channel_id)
        if seq <= channel.read_seq:
            return
        channel.read_seq = seq
        self._state.channels_changed()
        link = self._state.link
        if link is not None and await link.send(
            wire_ws.ReadMarkSet(channel_id=channel_id, seq=seq)
        ):
            return
        with contextlib.suppress(CoreError):
            await self._state.api.mark_read(channel_id, seq)

    async def send_typing(self, channel_id: str) -> None:
        """Tell the channel we are typing (rate-limited to one per 3 s; dropped when offline)."""
        self._state.channel_state(channel_id)
        now = time.monotonic()
        if now - self._typing_sent.get(channel_id, -_TYPING_INTERVAL_S) < _TYPING_INTERVAL_S:
            return
        link = self._state.link
        if link is not None and await link.send(wire_ws.TypingStart(channel_id=channel_id)):
            self._typing_sent[channel_id] = now

    async def set_presence(self, status: str) -> None:
        """Set our presence (``online``, ``away``, ``dnd``, ``offline``)."""
        self._state.require()
        value = PresenceStatus(status)
        link = self._state.link
        if link is not None and await link.send(wire_ws.PresenceSet(status=value)):
            return
        await self._state.api.set_presence(wire.PresenceSetRequest(status=value))
