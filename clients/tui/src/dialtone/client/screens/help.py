"""`HelpScreen`: the overlay listing keys and commands (F1 or Ctrl+/)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dialtone.client.commands import COMMANDS

__all__ = ["KEYS", "HelpScreen", "help_table"]

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send the message (or run the /command)"),
    ("Ctrl+J, Alt+Enter", "new line in the message"),
    ("Ctrl+Up / Ctrl+Down", "previous / next channel"),
    ("PgUp / PgDn, wheel", "scroll the messages (older ones load at the top)"),
    ("Ctrl+L", "show or hide the channel sidebar"),
    ("F1, Ctrl+/", "this help"),
    ("Ctrl+Q", "quit"),
    ("//text", "send a message starting with /"),
)


def help_table() -> Table:
    """Keys, then every command with its forms.

    Returns:
        A Rich table.
    """
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(Text("Keys", style="bold underline"), "")
    for key, what in KEYS:
        table.add_row(key, what)
    table.add_row("", "")
    table.add_row(Text("Commands", style="bold underline"), "")
    for spec in COMMANDS:
        forms = "\n".join(spec.usage)
        aliases = f" (also {', '.join('/' + a for a in spec.aliases)})" if spec.aliases else ""
        table.add_row(forms, spec.summary + aliases)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and commands; Esc, F1 or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q,ctrl+slash,ctrl+underscore", "close", "Close", priority=True),
    ]

    def compose(self) -> ComposeResult:
        """The overlay."""
        with VerticalScroll(id="help-box"):
            yield Static("Dialtone help  (Esc closes)", classes="form-title")
            yield Static(help_table(), id="help-table")

    def action_close(self) -> None:
        """Close the overlay."""
        self.dismiss(None)
