"""`TypingLine`: who is typing in the open channel (or the voice meter, or nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

__all__ = ["TypingLine", "typing_text"]


def typing_text(names: Sequence[str]) -> str:
    """The sentence for a list of typing users.

    Args:
        names: Their display names.

    Returns:
        E.g. ``Alice and Bob are typing…``, or an empty string.
    """
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) <= 3:
        return f"{', '.join(names[:-1])} and {names[-1]} are typing…"
    return f"{len(names)} people are typing…"


class TypingLine(Widget):
    """One dim line above the composer."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""

    def show(self, text: str) -> None:
        """Show a text (redrawn only when it changed).

        Args:
            text: The text.
        """
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        """The line."""
        return Text(self.text, style="dim italic")
