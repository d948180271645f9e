"""Textual messages shared across the application's screens and widgets."""

from __future__ import annotations

from textual.message import Message

from dialtone.client.core.events import ClientEvent

__all__ = ["CoreEvent", "VoiceDaemonExited"]


class CoreEvent(Message):
    """An event of the client core, delivered to the main screen by the app's event pump.

    Attributes:
        event: The core's event.
    """

    def __init__(self, event: ClientEvent) -> None:
        super().__init__()
        self.event = event


class VoiceDaemonExited(Message):
    """The voice daemon this client started stopped (crashed, or failed to start).

    Attributes:
        reason: What happened, for the voice panel.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
