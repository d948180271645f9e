"""The offline queue: our messages from the moment they are written until the server acks them.

A message keeps its client message id for life, so sending it again after a reconnect (or after
a lost ack) stores it once: the server answers a repeat with the original ack. It is kept sealed
for the epoch current when written; if the channel moves on before it is stored, it is sealed
again for the new epoch under the same id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import attrs

from dialtone.client.core.errors import OutboxFullError
from dialtone.client.core.events import DecryptedMessage
from dialtone.wire.ws import MessageSend

__all__ = ["Outbox", "Outgoing", "Pacer"]


@attrs.define
class Outgoing:
    """One queued message.

    Attributes:
        frame: The sealed ``channel.message.send`` event.
        view: The message as the UI shows it (pending).
        sent_on: The connection generation it was last sent on (None: not sent yet).
    """

    frame: MessageSend
    view: DecryptedMessage
    sent_on: int | None = None

    @property
    def channel_id(self) -> str:
        """The channel."""
        return self.frame.channel_id

    @property
    def client_msg_id(self) -> str:
        """The message id."""
        return self.frame.client_msg_id


class Outbox:
    """Queued messages, in the order written.

    Args:
        limit: Most messages held.
        on_change: Called after a message is added or removed (the core saves the queue then).
    """

    def __init__(self, limit: int, on_change: Callable[[], None] | None = None) -> None:
        self._limit = limit
        self._items: dict[str, Outgoing] = {}
        self._on_change = on_change

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Outgoing]:
        return iter(list(self._items.values()))

    def add(self, item: Outgoing) -> None:
        """Queue a message.

        Raises:
            OutboxFullError: The queue is at its limit.
        """
        if len(self._items) >= self._limit:
            raise OutboxFullError(f"{self._limit} messages are already waiting to be sent")
        self._items[item.client_msg_id] = item
        self._changed()

    def get(self, client_msg_id: str) -> Outgoing | None:
        """The queued message with that id, if any."""
        return self._items.get(client_msg_id)

    def pop(self, client_msg_id: str) -> Outgoing | None:
        """Remove and return a message (acked or refused)."""
        item = self._items.pop(client_msg_id, None)
        if item is not None:
            self._changed()
        return item

    def of_channel(self, channel_id: str) -> list[Outgoing]:
        """The queued messages of one channel, oldest first."""
        return [item for item in self._items.values() if item.channel_id == channel_id]

    def drop_channel(self, channel_id: str) -> list[Outgoing]:
        """Remove every message of a channel (deleted, or we left).

        Returns:
            The messages removed.
        """
        dropped = self.of_channel(channel_id)
        for item in dropped:
            del self._items[item.client_msg_id]
        if dropped:
            self._changed()
        return dropped


class Pacer:
    """A token bucket that spaces out sends: the server closes or refuses a connection that sends
    faster than its per-connection event rate, so a burst (an offline queue being flushed, a
    paste of many lines) is spread out here instead.

    Args:
        rate: Sends per second, sustained.
        burst: Sends allowed at once.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def delay(self) -> float:
        """Take one token; return how long to wait before using it (0 when one was free)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    async def wait(self) -> None:
        """Wait for a token."""
        pause = self.delay()
        if pause > 0:
            await asyncio.sleep(pause)
