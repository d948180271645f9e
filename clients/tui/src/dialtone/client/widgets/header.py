"""`StatusHeader`: who and where the user is, and whether the connection is up."""

from __future__ import annotations

import attrs
from rich.text import Text
from textual.widget import Widget

from dialtone.client.core.events import ConnectionState

__all__ = ["HeaderState", "StatusHeader"]

_STATE_STYLE = {
    ConnectionState.ONLINE: ("● online", "green"),
    ConnectionState.RECONNECTING: ("◌ reconnecting", "yellow"),
    ConnectionState.OFFLINE: ("○ offline", "red"),
}


@attrs.frozen(kw_only=True)
class HeaderState:
    """What the header shows.

    Attributes:
        user: The username (and display name).
        fingerprint: This device's short fingerprint.
        channel: The open channel's label (``#name``), or None.
        voice: The voice room and our state there, or None.
        connection: The connection state.
        detail: A detail of the connection state (the next retry, why offline).
    """

    user: str = ""
    fingerprint: str = ""
    channel: str | None = None
    voice: str | None = None
    connection: ConnectionState = ConnectionState.OFFLINE
    detail: str = ""


class StatusHeader(Widget):
    """One line: user, short device fingerprint, open channel, voice room, connection state."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = HeaderState()

    def show(self, state: HeaderState) -> None:
        """Show another state (redrawn only when it differs).

        Args:
            state: The state.
        """
        if state != self.state:
            self.state = state
            self.refresh()

    def render(self) -> Text:
        """The header line."""
        state = self.state
        label, colour = _STATE_STYLE[state.connection]
        parts: list[Text] = [Text(" dialtone", style="bold")]
        if state.user:
            parts.append(Text.assemble((state.user, "bold"), (f"  {state.fingerprint}", "dim")))
        parts.append(Text(state.channel or "no channel", style="bold"))
        parts.append(Text(f"voice: {state.voice}" if state.voice else "voice: -", style="dim"))
        status = Text(label, style=f"bold {colour}")
        if state.detail:
            status.append(f" ({state.detail})", style="dim")
        parts.append(status)
        return Text(" │ ", style="dim").join(parts)
