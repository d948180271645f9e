"""The ordered stream of committed channel messages on one replica.

Every replica learns of committed message batches from the NOTIFY stream, in commit order (which
is sequence order per channel). For its own batches it already holds the rows (and knows which
local connection sent each message); for other replicas' batches it reads the rows once, and only
if one of its connections is subscribed to the channel. Batches of a channel are fanned out
strictly in stream order, even when a later batch's rows are ready before an earlier one's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Final

import attrs

from dialtone.server.realtime.connection import RESYNC, Connection
from dialtone.server.realtime.hub import Hub
from dialtone.server.storage.notify import MessageLog
from dialtone.server.storage.records import MessageRecord
from dialtone.wire.fields import ChannelId

log = logging.getLogger(__name__)

Item = tuple[MessageRecord, Connection | None]
"""A stored message and the local connection that sent it (None: another replica's sender)."""

_UNKNOWN: Final = object()


@attrs.define
class _Batch:
    channel_id: ChannelId
    first: int
    last: int
    items: list[Item] | None = None


class MessageStream:
    """Turns commit notifications into fan-out, in order, per channel.

    Args:
        hub: The local hub.
        log: Reads rows stored by other replicas.
        encode: Builds the `channel.message.new` frame of a message (once per message).
    """

    def __init__(self, hub: Hub, log: MessageLog, encode: Callable[[MessageRecord], bytes]) -> None:
        self._hub = hub
        self._log = log
        self._encode = encode
        self._queues: dict[ChannelId, deque[_Batch]] = {}
        # Local batches whose rows arrived before their notification, and the other way round.
        self._stored: dict[int, list[Item] | None] = {}
        self._waiting: dict[int, _Batch] = {}
        self._fetches: set[asyncio.Task[None]] = set()
        self.delivered = 0
        """Messages handed to connections so far (for tests and the benchmark)."""

    def stored(self, token: int, items: list[Item] | None) -> None:
        """Hand over the rows of a batch this replica stored (or None if the outcome is unknown).

        Args:
            token: The batch token carried by its notification.
            items: The new messages with their senders' connections, or None when the append
                failed in a way that may or may not have committed (rows are read back if the
                notification arrives).
        """
        batch = self._waiting.pop(token, None)
        if batch is None:
            self._stored[token] = items
            return
        if items is None:
            self._fetch(batch)
        else:
            batch.items = items
            self._drain(batch.channel_id)

    def committed(self, channel_id: ChannelId, first: int, last: int, token: int | None) -> None:
        """Take a commit notification, in stream order.

        Args:
            channel_id: The channel.
            first: The first sequence number of the batch.
            last: The last sequence number of the batch.
            token: The batch token if this replica stored the batch, else None.
        """
        queue = self._queues.get(channel_id)
        batch = _Batch(channel_id, first, last)
        if token is not None:
            items = self._stored.pop(token, _UNKNOWN)
            if items is _UNKNOWN:
                self._waiting[token] = batch
            elif items is None:
                self._fetch(batch)
            else:
                assert isinstance(items, list)
                batch.items = items
        elif not self._hub.has_subscribers(channel_id):
            if queue is None:
                return
            batch.items = []
        else:
            self._fetch(batch)
        if queue is None:
            queue = self._queues[channel_id] = deque()
        queue.append(batch)
        self._drain(channel_id)

    def _fetch(self, batch: _Batch) -> None:
        task = asyncio.get_running_loop().create_task(self._read(batch))
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def _read(self, batch: _Batch) -> None:
        try:
            rows = await self._log.messages_between(batch.channel_id, batch.first, batch.last)
        except Exception as exc:
            # The subscribers cannot get these messages live: make them resume from the database
            # rather than skip them.
            log.warning(
                "could not read messages of channel %s (%s); asking its clients to resume",
                batch.channel_id,
                type(exc).__name__,
            )
            self._hub.close_where(lambda c: batch.channel_id in c.channels, RESYNC)
            rows = []
        batch.items = [(row, None) for row in rows]
        self._drain(batch.channel_id)

    def _drain(self, channel_id: ChannelId) -> None:
        queue = self._queues.get(channel_id)
        hub = self._hub
        while queue and queue[0].items is not None:
            batch = queue.popleft()
            assert batch.items is not None
            if not hub.has_subscribers(channel_id):
                continue
            for record, origin in batch.items:
                frame = self._encode(record)
                self.delivered += hub.fanout_message(channel_id, record.seq, frame, origin)
        if queue is not None and not queue:
            del self._queues[channel_id]

    def reset(self) -> None:
        """Forget every pending batch (the notification stream was interrupted)."""
        self._queues.clear()
        self._stored.clear()
        self._waiting.clear()
        for task in self._fetches:
            task.cancel()

    @property
    def pending(self) -> int:
        """Batches not yet fanned out (waiting for rows or for an earlier batch)."""
        return sum(len(queue) for queue in self._queues.values()) + len(self._stored)

    async def idle(self, within: float) -> bool:
        """Wait until every batch has been fanned out.

        Args:
            within: Seconds to wait at most.

        Returns:
            Whether the stream became idle in time.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._queues or self._waiting:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
