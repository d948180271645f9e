"""`VerifyScreen`: the safety number of the user and another user, to compare out of band before
marking them verified."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from dialtone.client.core.events import DeviceTrust, SafetyNumberView

__all__ = ["VerifyScreen", "safety_table"]

_TRUST_STYLE = {
    DeviceTrust.OWN: "green",
    DeviceTrust.VERIFIED: "green",
    DeviceTrust.FIRST_SEEN: "yellow",
    DeviceTrust.CHANGED: "bold red",
    DeviceTrust.PENDING: "yellow",
    DeviceTrust.REVOKED: "dim",
    DeviceTrust.UNTRUSTED: "bold red",
}


def safety_table(view: SafetyNumberView) -> Table:
    """The safety number in rows of four groups, and the other user's devices.

    Args:
        view: What the core computed.

    Returns:
        A Rich table.
    """
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    groups = view.safety_number.split()
    rows = [" ".join(groups[i : i + 4]) for i in range(0, len(groups), 4)] or [view.safety_number]
    table.add_row(Text("Safety number", style="bold underline"))
    for row in rows:
        table.add_row(Text(row, style="bold"))
    table.add_row("")
    table.add_row(Text(f"Devices of {view.display_name}", style="bold underline"))
    for device in view.devices:
        table.add_row(
            Text.assemble(
                (device.device_id[:8], "dim"),
                "  ",
                device.fingerprint,
                "  ",
                (device.trust.value, _TRUST_STYLE.get(device.trust, "")),
            )
        )
    return table


class VerifyScreen(ModalScreen[bool]):
    """Shows the safety number; dismissed with True when the user marks the user verified.

    Args:
        view: The safety number and devices.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Close")]

    def __init__(self, view: SafetyNumberView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        """The overlay."""
        with Vertical(id="verify-box"):
            yield Static(f"Verify {self.view.display_name}", classes="form-title")
            yield Static(
                "Compare this number with theirs in person or over a call you trust. If it "
                "matches, mark them verified: their current devices get your channel keys and a "
                "later key change is flagged loudly.",
                classes="form-help",
            )
            yield Static(safety_table(self.view), id="safety-number")
            with Horizontal(classes="buttons"):
                yield Button("It matches: mark verified", id="confirm", variant="success")
                yield Button("Close", id="cancel")

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without marking."""
        self.dismiss(False)
