"""`Composer`: the multi-line message input. Enter sends; Ctrl+J, Alt+Enter or Shift+Enter (where
the terminal reports it) start a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

__all__ = ["Composer"]

_NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter", "ctrl+enter"})


class Composer(TextArea):
    """The message input.

    Args:
        placeholder: Shown while empty.
        id: The widget's id.
    """

    class Submitted(Message):
        """The user pressed Enter on a non-empty input (which is now cleared).

        Attributes:
            text: What was written.
        """

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Edited(Message):
        """The text changed because the user typed (used for typing indicators)."""

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            compact=True,
            placeholder=placeholder,
            id=id,
        )

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if event.key in _NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)
        if event.is_printable:
            self.post_message(self.Edited())

    def submit(self) -> None:
        """Send what is written (nothing happens while it is only whitespace)."""
        text = self.text
        if not text.strip():
            return
        self.clear()
        self.post_message(self.Submitted(text.strip("\n")))
