"""Our messages on their way out: the offline queue (in memory and on disk), sending in order at a
paced rate, acks, resends after a refusal, and sealing again for a new key epoch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import attrs

from dialtone.client.core import sealing
from dialtone.client.core.errors import OutboxFullError
from dialtone.client.core.events import (
    DecryptedMessage,
    DeviceTrust,
    Error,
    MessageAcked,
    MessageQueued,
    Notice,
)
from dialtone.client.core.outbox import Outbox, Outgoing, Pacer
from dialtone.client.core.outbox_store import OutboxStore, SavedMessage, UnreadableOutboxError
from dialtone.client.core.state import CoreState

__all__ = ["OutboxSender"]

log = logging.getLogger(__name__)

# Below the server's default per-connection event rate (200/s, burst 400), leaving room for
# typing, read markers and voice signaling on the same connection.
_SEND_RATE = 120.0
_SEND_BURST = 200
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 8.0


class OutboxSender:
    """Our messages not acknowledged yet, and getting them to the server exactly once.

    Args:
        state: The core's shared state.
    """

    def __init__(self, state: CoreState) -> None:
        self._state = state
        self.queue = Outbox(state.options.outbox_limit, self.outbox_changed)
        """The messages waiting for an ack, oldest first."""
        self.store: OutboxStore | None = None
        """The queue's file, while a session is open."""
        self._dirty = False
        self._saver: asyncio.Task[None] | None = None
        self._pacer = Pacer(_SEND_RATE, _SEND_BURST)
        self._retry_delay = _RETRY_MIN_S
        self._retry_pending = False

    def reset(self) -> None:
        """Start an empty queue (at logout, once the old one was saved)."""
        self.queue = Outbox(self._state.options.outbox_limit, self.outbox_changed)

    def outbox_changed(self) -> None:
        """Save the queue soon (writes in a row coalesce into one)."""
        if self.store is None:
            return
        self._dirty = True
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(
                self._save_outbox(), name="dialtone: saving the offline queue"
            )

    async def _save_outbox(self) -> None:
        while self._dirty and self.store is not None:
            self._dirty = False
            snapshot = [
                SavedMessage(
                    frame=item.frame,
                    body=item.view.body,
                    sender_name=item.view.sender_name,
                    created_at=item.view.created_at,
                )
                for item in self.queue
            ]
            try:
                await asyncio.to_thread(self.store.save, snapshot)
            except OSError as exc:
                self._state.emit(
                    Error(text=f"the offline queue could not be saved on this machine: {exc}")
                )
                return

    async def close_outbox(self) -> None:
        """Save the queue one last time (a revoked device's is deleted) and stop saving."""
        store = self.store
        if store is None:
            return
        saver = self._saver
        if saver is not None:
            with contextlib.suppress(Exception):
                await saver
        self._dirty = True
        try:
            if self._state.revoked:
                await asyncio.to_thread(store.clear)
            else:
                await self._save_outbox()
        finally:
            self.store = None
            self._saver = None
            self._dirty = False

    async def restore_outbox(self) -> None:
        """Queue again what was waiting to be sent when the client last stopped."""
        session = self._state.require()
        store = self.store
        if store is None:
            return
        try:
            saved = await asyncio.to_thread(store.load)
        except UnreadableOutboxError as exc:
            self._state.emit(Error(text=f"the saved offline queue was discarded: {exc}"))
            await asyncio.to_thread(store.clear)
            return
        restored = 0
        for message in saved:
            frame = message.frame
            view = DecryptedMessage(
                channel_id=frame.channel_id,
                seq=None,
                client_msg_id=frame.client_msg_id,
                sender_user_id=session.account.user_id,
                sender_device_id=session.account.device_id,
                sender_name=message.sender_name,
                body=message.body,
                server_ts=None,
                created_at=message.created_at,
                epoch=frame.key_epoch,
                own=True,
                pending=True,
                sender_trust=DeviceTrust.OWN,
            )
            try:
                self.queue.add(Outgoing(frame=frame, view=view))
            except OutboxFullError:
                self._state.emit(
                    Error(
                        text="the saved offline queue holds more than the queue limit; the "
                        "rest was dropped"
                    )
                )
                break
            self._state.emit(MessageQueued(channel_id=frame.channel_id, message=view))
            restored += 1
        if restored:
            self._state.emit(
                Notice(
                    text=f"{restored} message(s) written while offline are queued again and go "
                    "out once connected"
                )
            )

    async def flush_outbox(self) -> int:
        """Send what was not sent on this connection yet; returns how many went out."""
        link = self._state.link
        if link is None or not link.online:
            return 0
        sent = 0
        for item in self.queue:
            if item.sent_on == link.generation:
                continue
            if await self.send_item(item):
                sent += 1
        return sent

    async def send_item(self, item: Outgoing) -> bool:
        """Send one queued message on the link (paced); whether it went out."""
        link = self._state.link
        if link is None or not link.online:
            return False
        await self._pacer.wait()
        if self.queue.get(item.client_msg_id) is not item:
            return False  # acked or dropped while waiting for its turn
        if await link.send(item.frame):
            item.sent_on = link.generation
            return True
        return False

    async def acked(
        self, channel_id: str, client_msg_id: str, seq: int, server_ts: datetime
    ) -> None:
        """The server stored one of our messages: take it off the queue, move the cursors."""
        item = self.queue.pop(client_msg_id)
        self._state.cursors[channel_id] = max(self._state.cursors.get(channel_id, 0), seq)
        channel = self._state.channels.get(channel_id)
        if channel is not None:
            caught_up = channel.read_seq >= channel.last_seq
            channel.last_seq = max(channel.last_seq, seq)
            if caught_up and seq > channel.read_seq:
                channel.read_seq = seq
        if item is not None:
            self._retry_delay = _RETRY_MIN_S
            self._state.emit(
                MessageAcked(
                    channel_id=channel_id, client_msg_id=client_msg_id, seq=seq, server_ts=server_ts
                )
            )

    def schedule_resend(self) -> None:
        """Send every unacknowledged message again after a growing pause."""
        if self._retry_pending:
            return
        self._retry_pending = True
        delay = self._retry_delay
        self._retry_delay = min(_RETRY_MAX_S, self._retry_delay * 2)

        async def resend() -> None:
            try:
                await asyncio.sleep(delay)
            finally:
                self._retry_pending = False
            for item in self.queue:
                await self.send_item(item)

        self._state.spawn(resend(), "resending unacknowledged messages")

    def reseal(self, item: Outgoing) -> bool:
        """Seal a queued message again for its channel's current epoch, keeping its id."""
        session = self._state.require()
        channel = self._state.channels.get(item.channel_id)
        if channel is None:
            return False
        key = session.keys.channel_key(item.channel_id, channel.epoch)
        if key is None:
            return False
        if key.epoch == item.frame.key_epoch:
            return True
        item.frame = sealing.seal_chat(
            session.identity,
            key,
            body=item.view.body,
            sender_name=item.view.sender_name,
            client_msg_id=item.client_msg_id,
        )
        item.view = attrs.evolve(item.view, epoch=key.epoch)
        item.sent_on = None
        self.outbox_changed()
        return True

    async def reseal_queued(self, channel_id: str) -> None:
        """Seal the queued messages of a channel for its new epoch and send them."""
        for item in self.queue.of_channel(channel_id):
            if item.sent_on is None and self.reseal(item):
                await self.send_item(item)
