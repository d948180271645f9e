"""The event bus: fans the core's events out to async iterators and callbacks, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from dialtone.client.core.events import ClientEvent

__all__ = ["EventBus"]

log = logging.getLogger(__name__)

_CLOSED = object()


class EventBus:
    """Delivers every emitted event to every subscriber, in emission order.

    Iterator subscriptions have unbounded queues on purpose: an event the UI has not read yet must
    not be dropped (a slow UI shows it late, never not at all). Callbacks run synchronously inside
    `emit`, on the event loop.
    """

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[object]] = []
        self._callbacks: list[Callable[[ClientEvent], None]] = []
        self._closed = False

    def emit(self, event: ClientEvent) -> None:
        """Hand `event` to every subscriber.

        Args:
            event: The event.
        """
        if self._closed:
            return
        for queue in self._queues:
            queue.put_nowait(event)
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                # A broken UI handler must not stop the core from delivering to the others.
                log.exception("event callback %r failed on %r", callback, event)

    def subscribe(self, callback: Callable[[ClientEvent], None]) -> Callable[[], None]:
        """Register a callback.

        Args:
            callback: Called with each event.

        Returns:
            A function that removes it.
        """
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def stream(self) -> AsyncIterator[ClientEvent]:
        """A new subscription as an async iterator that ends when the bus closes.

        Returns:
            The iterator (subscribed immediately, before the first ``__anext__``).
        """
        queue: asyncio.Queue[object] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(_CLOSED)
        else:
            self._queues.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[object]) -> AsyncIterator[ClientEvent]:
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    return
                yield item  # type: ignore[misc]
        finally:
            if queue in self._queues:
                self._queues.remove(queue)

    def close(self) -> None:
        """End every iterator subscription (after the events already queued) and drop callbacks."""
        if self._closed:
            return
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_CLOSED)
        self._callbacks.clear()
