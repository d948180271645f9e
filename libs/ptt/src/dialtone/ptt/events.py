"""Push-to-talk events and the bounded channel every backend delivers them through."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

import attrs

__all__ = ["DEFAULT_QUEUE_SIZE", "EventChannel", "PttEvent"]

DEFAULT_QUEUE_SIZE = 64
"""Events a backend keeps for a consumer that is not reading (older ones are dropped first)."""


@attrs.frozen
class PttEvent:
    """The push-to-talk key went down or up.

    Attributes:
        pressed: True when the key (or shortcut) went down, False when it went up.
        at: When the backend saw it, in seconds on the backend's clock (`time.monotonic` unless
            one was injected). The portal's own timestamp is not used: it is on the compositor's
            clock, which nothing else in the process shares.
    """

    pressed: bool
    at: float


class EventChannel:
    """A bounded queue of `PttEvent` between a backend (producer) and one consumer.

    Only state changes are queued: a second press while pressed is ignored. When the queue is
    full the OLDEST event is dropped and counted, so the newest event -- the current state of the
    key -- always reaches the consumer. Must be used from the event loop's thread; producers in
    other threads hand over with `asyncio.AbstractEventLoop.call_soon_threadsafe`.
    """

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        """Create an empty, open channel.

        Args:
            maxsize: How many undelivered events to keep.

        Raises:
            ValueError: If ``maxsize`` is below 1.
        """
        if maxsize < 1:
            raise ValueError(f"queue size must be at least 1, not {maxsize}")
        self._events: collections.deque[PttEvent] = collections.deque()
        self._maxsize = maxsize
        self._wakeup = asyncio.Event()
        self._closed = False
        self._pressed = False
        self.dropped = 0
        """Events dropped because the consumer fell ``maxsize`` events behind."""

    @property
    def pressed(self) -> bool:
        """The state of the key as last published."""
        return self._pressed

    @property
    def closed(self) -> bool:
        """Whether `close` was called (no more events will be published)."""
        return self._closed

    def publish(self, pressed: bool, at: float) -> None:
        """Queue a state change; ignored if it is no change or the channel is closed.

        Args:
            pressed: The new state of the key.
            at: When the backend saw the change.
        """
        if self._closed or pressed == self._pressed:
            return
        self._pressed = pressed
        if len(self._events) >= self._maxsize:
            self._events.popleft()
            self.dropped += 1
        self._events.append(PttEvent(pressed=pressed, at=at))
        self._wakeup.set()

    def close(self, at: float) -> None:
        """End the stream, queueing a release first if the key is still down.

        A consumer must never be left "transmitting" because the backend went away while the
        key was held.

        Args:
            at: When the backend stopped (the time of the synthetic release).
        """
        if self._closed:
            return
        self.publish(False, at)
        self._closed = True
        self._wakeup.set()

    async def __aiter__(self) -> AsyncIterator[PttEvent]:
        """Yield queued events as they come; stops once the channel is closed and drained."""
        while True:
            while self._events:
                yield self._events.popleft()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()
