"""The one small interface every push-to-talk backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from dialtone.ptt.events import PttEvent

__all__ = ["PttBackend"]


@runtime_checkable
class PttBackend(Protocol):
    """A source of push-to-talk key down/up events.

    Lifecycle: `start` (may raise a `dialtone.ptt.errors.PttError` saying why the backend cannot
    run), then consume `events`, then `stop`. The event stream ends after `stop` (or when the
    backend loses its source, e.g. the portal closes the session), and a release is always
    delivered before the end if the key was down.
    """

    @property
    def name(self) -> str:
        """The backend's kind as reported to the TUI (``"portal"`` or ``"hotkey"``)."""
        ...

    @property
    def dropped(self) -> int:
        """Events dropped because the consumer fell behind (the newest is always kept)."""
        ...

    def describe(self) -> str:
        """One human sentence on what this backend listens to (for logs and the TUI)."""
        ...

    async def start(self) -> None:
        """Begin listening.

        Raises:
            dialtone.ptt.errors.PttError: A subclass naming why the backend cannot run.
        """
        ...

    async def stop(self) -> None:
        """Stop listening and end the event stream; safe to call more than once."""
        ...

    def events(self) -> AsyncIterator[PttEvent]:
        """The pressed/released events, in order, until the backend stops."""
        ...
