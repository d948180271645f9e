"""`ChannelList`: the sidebar of channels with unread counts; click one to open it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from dialtone.client.core.events import ChannelView

__all__ = ["ChannelList", "channel_label"]

_TITLE_LINES = 1


def channel_label(channel: ChannelView) -> str:
    """How a channel is named on screen: ``#name``, or why it has no readable name.

    Args:
        channel: The channel.

    Returns:
        The label.
    """
    return f"#{channel.name}" if channel.name is not None else channel.title


class ChannelList(Widget):
    """The user's channels, the open one highlighted, unread counts on the right."""

    class Selected(Message):
        """The user clicked a channel.

        Attributes:
            channel_id: The channel.
        """

        def __init__(self, channel_id: str) -> None:
            super().__init__()
            self.channel_id = channel_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.channels: tuple[ChannelView, ...] = ()
        self.current: str | None = None
        self.mentioned: frozenset[str] = frozenset()
        self._shown: tuple[object, ...] = ()

    def show(
        self,
        channels: Sequence[ChannelView],
        current: str | None,
        mentioned: frozenset[str] = frozenset(),
    ) -> None:
        """Show a channel list (redrawn only when what is visible changed).

        Args:
            channels: The channels, in order.
            current: The open channel's id.
            mentioned: Channels where the user was mentioned since last opening them.
        """
        self.channels = tuple(channels)
        self.current = current
        self.mentioned = mentioned
        visible = (
            # The open channel shows no count: its unread number changing redraws nothing.
            tuple(
                (c.channel_id, c.title, c.unread if c.channel_id != current else 0, c.has_key)
                for c in self.channels
            ),
            current,
            mentioned,
        )
        if visible != self._shown:
            self._shown = visible
            self.refresh()

    def render(self) -> Text:
        """The list."""
        width = max(self.size.width, 8)
        lines = [Text("Channels", style="bold underline")]
        if not self.channels:
            lines.append(Text("(none yet: /channel create <name>)", style="dim italic"))
        for channel in self.channels:
            name = channel_label(channel)
            badge = ""
            if channel.unread and channel.channel_id != self.current:
                badge = f" {channel.unread}" if channel.unread < 1000 else " 999+"
                if channel.channel_id in self.mentioned:
                    badge = f" @{badge.strip()}"
            room = width - cell_len(badge) - 1
            if cell_len(name) > room:
                name = name[: max(room - 1, 1)] + "…"
            line = Text(" " + name.ljust(room) + badge)
            if channel.channel_id == self.current:
                line.stylize("reverse bold")
            elif channel.unread:
                line.stylize("bold")
            else:
                line.stylize("dim" if not channel.has_key else "")
            if badge:
                line.stylize(
                    "bold yellow" if channel.channel_id in self.mentioned else "bold cyan",
                    len(line) - len(badge),
                )
            lines.append(line)
        return Text("\n").join(lines)

    def channel_at(self, y: int) -> str | None:
        """The channel drawn on a line.

        Args:
            y: The line, from the top of the widget.

        Returns:
            Its id, or None.
        """
        index = y - _TITLE_LINES
        if 0 <= index < len(self.channels):
            return self.channels[index].channel_id
        return None

    def on_click(self, event: events.Click) -> None:
        """Open the clicked channel."""
        channel_id = self.channel_at(event.y)
        if channel_id is not None:
            self.post_message(self.Selected(channel_id))
