"""`PeoplePanel`: the open channel's members with presence, and the voice room with who speaks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
from rich.text import Text
from textual.widget import Widget

from dialtone.client.core.events import MemberView, VoiceMemberView

__all__ = ["PeoplePanel", "PeopleState", "VoicePanelState"]

_PRESENCE = {
    "online": ("●", "green"),
    "away": ("◐", "yellow"),
    "dnd": ("⊘", "red"),
    "offline": ("○", "dim"),
}


@attrs.frozen(kw_only=True)
class VoicePanelState:
    """The voice part of the panel.

    Attributes:
        daemon: The daemon's state line (``ready (portal)``, ``not running: ...``).
        daemon_ok: Whether the daemon is reachable.
        room: The label (``#name``) of the channel whose voice room we are in, or None.
        connected: Whether audio runs.
        muted: Whether our microphone is muted.
        deafened: Whether we are deafened.
        members: Who is in the room.
        speaking: ``(user_id, device_id)`` of those speaking now.
        level: Our microphone meter text, when the meter is on.
    """

    daemon: str = "not started (use --voice-auto)"
    daemon_ok: bool = False
    room: str | None = None
    connected: bool = False
    muted: bool = False
    deafened: bool = False
    members: tuple[VoiceMemberView, ...] = ()
    speaking: frozenset[tuple[str, str]] = frozenset()
    level: str = ""


@attrs.frozen(kw_only=True)
class PeopleState:
    """What the panel shows.

    Attributes:
        members: The open channel's members.
        presence: Presence per user id (overrides the members' own).
        voice: The voice part.
    """

    members: tuple[MemberView, ...] = ()
    presence: Mapping[str, str] = attrs.field(factory=dict)
    voice: VoicePanelState = VoicePanelState()


def _member_lines(members: Sequence[MemberView], presence: Mapping[str, str]) -> list[Text]:
    lines = [Text(f"Members ({len(members)})", style="bold underline")]
    for member in members:
        status = presence.get(member.user_id, member.presence)
        mark, colour = _PRESENCE.get(status, _PRESENCE["offline"])
        line = Text.assemble((mark, colour), " ", member.display_name)
        if member.role in ("owner", "admin"):
            line.append(f" ({member.role})", style="dim")
        lines.append(line)
    return lines


def _voice_lines(voice: VoicePanelState) -> list[Text]:
    lines = [Text("Voice", style="bold underline")]
    lines.append(
        Text(f"daemon: {voice.daemon}", style="green" if voice.daemon_ok else "yellow italic")
    )
    if voice.room is None:
        lines.append(Text("not in a voice room", style="dim"))
        return lines
    flags = [f for f, on in (("muted", voice.muted), ("deafened", voice.deafened)) if on]
    state = "connected" if voice.connected else "connecting…"
    lines.append(Text(f"{voice.room}: {state}" + (f" ({', '.join(flags)})" if flags else "")))
    for member in voice.members:
        speaking = member.speaking or (member.user_id, member.device_id) in voice.speaking
        mark = Text("»", style="bold green") if speaking else Text(" ")
        line = Text.assemble(mark, " ", (member.display_name, "bold green" if speaking else ""))
        extra = [f for f, on in (("muted", member.muted), ("deaf", member.deafened)) if on]
        if member.state and member.state != "connected":
            extra.append(member.state)
        if extra:
            line.append(f" ({', '.join(extra)})", style="dim")
        lines.append(line)
    if voice.level:
        lines.append(Text(voice.level, style="cyan"))
    return lines


class PeoplePanel(Widget):
    """Members and the voice room."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = PeopleState()

    def show(self, state: PeopleState) -> None:
        """Show another state (redrawn only when it differs).

        Args:
            state: The state.
        """
        if state != self.state:
            self.state = state
            self.refresh()

    def render(self) -> Text:
        """The panel."""
        lines = _member_lines(self.state.members, self.state.presence)
        lines.append(Text(""))
        lines.extend(_voice_lines(self.state.voice))
        return Text("\n").join(lines)
