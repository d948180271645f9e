"""The slash-command language of the composer: a pure parser from a line of text to a typed command.

Nothing here touches the UI or the network: `parse` turns ``/channel create ops bob`` into
``ChannelCreate(name="ops", members=("bob",))`` or raises `CommandError` with a message meant to
be shown inline as is (what was wrong, and the usage line). `COMMANDS` describes every command
for ``/help`` and the help overlay.

A line starting with ``//`` is not a command: it is sent as a message starting with ``/``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from typing import TypeAlias

import attrs

__all__ = [
    "COMMANDS",
    "ChannelCreate",
    "ChannelDelete",
    "ChannelList",
    "ChannelRename",
    "Command",
    "CommandError",
    "CommandSpec",
    "DevicesApprove",
    "DevicesList",
    "DevicesRevoke",
    "Help",
    "Invite",
    "Join",
    "MembersAdd",
    "MembersList",
    "MembersRemove",
    "Nick",
    "Quit",
    "Verify",
    "VoiceDeafen",
    "VoiceJoin",
    "VoiceLeave",
    "VoiceMute",
    "command_name",
    "is_command",
    "parse",
    "parse_duration",
    "spec_for",
    "unescape",
]

ROLES = ("member", "admin")
MAX_INVITE_TTL_S = 30 * 24 * 3600


class CommandError(ValueError):
    """The line is not a valid command; the message says why and how to write it."""


# --- the commands --------------------------------------------------------------------------------


@attrs.frozen
class Help:
    """``/help [command]``: list the commands, or explain one."""

    topic: str | None = None


@attrs.frozen
class Join:
    """``/join <channel>``: open a channel (by name, unique name prefix or id)."""

    channel: str


@attrs.frozen
class ChannelList:
    """``/list`` or ``/channel list``: list the channels with unread counts."""


@attrs.frozen
class ChannelCreate:
    """``/channel create <name> [user...]``: create a channel and add members."""

    name: str
    members: tuple[str, ...] = ()


@attrs.frozen
class ChannelRename:
    """``/channel rename <new name>``: rename the open channel."""

    name: str


@attrs.frozen
class ChannelDelete:
    """``/channel delete <channel>``: delete a channel (owner only); the name is typed on
    purpose, so a slip of the keyboard cannot delete the open channel."""

    channel: str


@attrs.frozen
class MembersList:
    """``/members``: list the open channel's members."""


@attrs.frozen
class MembersAdd:
    """``/members add <user> [member|admin]``: add a user to the open channel."""

    user: str
    role: str = "member"


@attrs.frozen
class MembersRemove:
    """``/members remove <user>``: remove a user from the open channel (the key rotates)."""

    user: str


@attrs.frozen
class Invite:
    """``/invite [duration] [note...]``: create an invite (server admins only)."""

    ttl_seconds: int | None = None
    note: str | None = None


@attrs.frozen
class Verify:
    """``/verify <user>``: show the safety number and offer to mark the user verified."""

    user: str


@attrs.frozen
class DevicesList:
    """``/devices``: list this account's devices."""


@attrs.frozen
class DevicesApprove:
    """``/devices approve <device>``: approve a pending device of this account."""

    device: str


@attrs.frozen
class DevicesRevoke:
    """``/devices revoke <device>``: revoke a device of this account."""

    device: str


@attrs.frozen
class VoiceJoin:
    """``/voice join [channel]``: join the voice room of a channel (default: the open one)."""

    channel: str | None = None


@attrs.frozen
class VoiceLeave:
    """``/voice leave``: leave the voice room."""


@attrs.frozen
class VoiceMute:
    """``/voice mute`` and ``/voice unmute``."""

    muted: bool


@attrs.frozen
class VoiceDeafen:
    """``/voice deafen`` and ``/voice undeafen``."""

    deafened: bool


@attrs.frozen
class Nick:
    """``/nick <display name>``: set the display name the user's contacts see."""

    name: str


@attrs.frozen
class Quit:
    """``/quit``: leave the application."""


Command: TypeAlias = (
    Help
    | Join
    | ChannelList
    | ChannelCreate
    | ChannelRename
    | ChannelDelete
    | MembersList
    | MembersAdd
    | MembersRemove
    | Invite
    | Verify
    | DevicesList
    | DevicesApprove
    | DevicesRevoke
    | VoiceJoin
    | VoiceLeave
    | VoiceMute
    | VoiceDeafen
    | Nick
    | Quit
)
"""Every command `parse` returns."""


# --- the table of commands -----------------------------------------------------------------------


@attrs.frozen
class CommandSpec:
    """One command as ``/help`` describes it.

    Attributes:
        name: The command word, without the slash.
        aliases: Other words for it.
        usage: Every form, one per line.
        summary: What it does, in one line.
    """

    name: str
    aliases: tuple[str, ...]
    usage: tuple[str, ...]
    summary: str


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("help", (), ("/help [command]",), "list the commands, or explain one"),
    CommandSpec("join", ("j",), ("/join <channel>",), "open a channel"),
    CommandSpec("list", ("ls",), ("/list",), "list your channels with unread counts"),
    CommandSpec(
        "channel",
        (),
        (
            "/channel list",
            "/channel create <name> [user...]",
            "/channel rename <new name>",
            "/channel delete <channel>",
        ),
        "list, create, rename (the open one) or delete channels",
    ),
    CommandSpec(
        "members",
        (),
        ("/members", "/members add <user> [member|admin]", "/members remove <user>"),
        "list, add or remove members of the open channel",
    ),
    CommandSpec(
        "invite",
        (),
        ("/invite [duration] [note...]",),
        "create an invite token, e.g. /invite 2d for Bob (server admins)",
    ),
    CommandSpec(
        "verify",
        (),
        ("/verify <user>",),
        "compare safety numbers with a user, then mark them verified",
    ),
    CommandSpec(
        "devices",
        (),
        ("/devices", "/devices approve <device>", "/devices revoke <device>"),
        "list, approve or revoke the devices of your account",
    ),
    CommandSpec(
        "voice",
        (),
        (
            "/voice join [channel]",
            "/voice leave",
            "/voice mute | unmute",
            "/voice deafen | undeafen",
        ),
        "voice rooms (needs the voice daemon: --voice-auto)",
    ),
    CommandSpec("nick", (), ("/nick <display name>",), "set the name your contacts see"),
    CommandSpec("quit", ("q", "exit"), ("/quit",), "leave Dialtone"),
)


_NAMES: dict[type, str] = {
    Help: "/help",
    Join: "/join",
    ChannelList: "/list",
    ChannelCreate: "/channel create",
    ChannelRename: "/channel rename",
    ChannelDelete: "/channel delete",
    MembersList: "/members",
    MembersAdd: "/members add",
    MembersRemove: "/members remove",
    Invite: "/invite",
    Verify: "/verify",
    DevicesList: "/devices",
    DevicesApprove: "/devices approve",
    DevicesRevoke: "/devices revoke",
    VoiceJoin: "/voice join",
    VoiceLeave: "/voice leave",
    VoiceMute: "/voice mute",
    VoiceDeafen: "/voice deafen",
    Nick: "/nick",
    Quit: "/quit",
}


def command_name(command: Command) -> str:
    """How the user wrote a command, for messages about it.

    Args:
        command: The command.

    Returns:
        E.g. ``/channel create``.
    """
    return _NAMES[type(command)]


def spec_for(word: str) -> CommandSpec | None:
    """The command a word (name or alias, with or without the slash) stands for.

    Args:
        word: E.g. ``j`` or ``/join``.

    Returns:
        Its spec, or None for an unknown word.
    """
    wanted = word.removeprefix("/").casefold()
    for spec in COMMANDS:
        if wanted == spec.name or wanted in spec.aliases:
            return spec
    return None


# --- parsing -------------------------------------------------------------------------------------


def is_command(text: str) -> bool:
    """Whether a composer line is a command (``/word ...``) rather than a message.

    Args:
        text: The composer's text.

    Returns:
        True for ``/join x``; False for plain text and for ``//escaped`` lines.
    """
    stripped = text.lstrip()
    return stripped.startswith("/") and not stripped.startswith("//")


def unescape(text: str) -> str:
    """The message to send for a composer line: ``//shrug`` becomes ``/shrug``.

    Args:
        text: The composer's text (not a command).

    Returns:
        The text with one leading slash of an escaped line removed.
    """
    stripped = text.lstrip()
    if stripped.startswith("//"):
        return text[text.index("//") + 1 :]
    return text


_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90``, ``30m``, ``12h``, ``2d`` or ``1w``.

    Args:
        text: The duration.

    Returns:
        The number of seconds (positive).

    Raises:
        CommandError: Not a duration, zero, or longer than 30 days.
    """
    match = _DURATION.match(text.strip().casefold())
    if match is None:
        raise CommandError(f"{text!r} is not a duration (examples: 30m, 12h, 2d)")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise CommandError("the duration must be positive")
    if seconds > MAX_INVITE_TTL_S:
        raise CommandError("an invite lasts at most 30 days")
    return seconds


def _split(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise CommandError(f"cannot read the arguments: {exc}") from None


def _usage_error(spec_name: str, problem: str) -> CommandError:
    spec = spec_for(spec_name)
    usage = "\n".join(f"  {line}" for line in spec.usage) if spec is not None else ""
    return CommandError(f"{problem}\nusage:\n{usage}")


def _parse_help(args: list[str], _rest: str) -> Command:
    if len(args) > 1:
        raise _usage_error("help", "/help takes at most one command name")
    if not args:
        return Help()
    spec = spec_for(args[0])
    if spec is None:
        raise CommandError(f"no command /{args[0].removeprefix('/')}: /help lists them")
    return Help(topic=spec.name)


def _parse_join(_args: list[str], rest: str) -> Command:
    channel = rest.strip()
    if not channel:
        raise _usage_error("join", "which channel?")
    return Join(channel=channel.removeprefix("#"))


def _parse_list(args: list[str], _rest: str) -> Command:
    if args:
        raise _usage_error("list", "/list takes no arguments")
    return ChannelList()


def _parse_channel(args: list[str], rest: str) -> Command:
    if not args:
        raise _usage_error("channel", "what should /channel do?")
    action = args[0].casefold()
    if action in ("list", "ls"):
        if len(args) > 1:
            raise _usage_error("channel", "/channel list takes no arguments")
        return ChannelList()
    if action in ("create", "new"):
        if len(args) < 2 or not args[1].strip():
            raise _usage_error("channel", "the new channel needs a name")
        return ChannelCreate(name=args[1].strip().removeprefix("#"), members=tuple(args[2:]))
    if action == "rename":
        name = rest.strip()[len(args[0]) :].strip()
        if not name:
            raise _usage_error("channel", "the new name is missing")
        if name[0] == name[-1] and name[0] in "\"'" and len(name) > 1:
            name = name[1:-1].strip()
        return ChannelRename(name=name.removeprefix("#"))
    if action in ("delete", "rm"):
        if len(args) != 2:
            raise _usage_error("channel", "name the channel to delete")
        return ChannelDelete(channel=args[1].removeprefix("#"))
    raise _usage_error("channel", f"unknown action {args[0]!r}")


def _parse_members(args: list[str], _rest: str) -> Command:
    if not args or args[0].casefold() in ("list", "ls"):
        if len(args) > 1:
            raise _usage_error("members", "/members list takes no arguments")
        return MembersList()
    action = args[0].casefold()
    if action == "add":
        if len(args) not in (2, 3):
            raise _usage_error("members", "/members add takes a user and optionally a role")
        role = args[2].casefold() if len(args) == 3 else "member"
        if role not in ROLES:
            raise _usage_error("members", f"the role must be member or admin, not {args[2]!r}")
        return MembersAdd(user=args[1].removeprefix("@"), role=role)
    if action in ("remove", "rm", "kick"):
        if len(args) != 2:
            raise _usage_error("members", "/members remove takes one user")
        return MembersRemove(user=args[1].removeprefix("@"))
    raise _usage_error("members", f"unknown action {args[0]!r}")


def _parse_invite(args: list[str], _rest: str) -> Command:
    if not args:
        return Invite()
    try:
        ttl = parse_duration(args[0])
    except CommandError:
        if _DURATION.match(args[0].casefold()):
            raise
        return Invite(note=" ".join(args))
    return Invite(ttl_seconds=ttl, note=" ".join(args[1:]) or None)


def _parse_verify(args: list[str], _rest: str) -> Command:
    if len(args) != 1:
        raise _usage_error("verify", "/verify takes one user")
    return Verify(user=args[0].removeprefix("@"))


def _parse_devices(args: list[str], _rest: str) -> Command:
    if not args or args[0].casefold() in ("list", "ls"):
        if len(args) > 1:
            raise _usage_error("devices", "/devices list takes no arguments")
        return DevicesList()
    action = args[0].casefold()
    if action in ("approve", "revoke"):
        if len(args) != 2:
            raise _usage_error("devices", f"/devices {action} takes one device id (or prefix)")
        if action == "approve":
            return DevicesApprove(device=args[1])
        return DevicesRevoke(device=args[1])
    raise _usage_error("devices", f"unknown action {args[0]!r}")


def _parse_voice(args: list[str], _rest: str) -> Command:
    if not args:
        raise _usage_error("voice", "what should /voice do?")
    action = args[0].casefold()
    if action == "join":
        if len(args) > 2:
            raise _usage_error("voice", "/voice join takes at most one channel")
        return VoiceJoin(channel=args[1].removeprefix("#") if len(args) == 2 else None)
    simple: dict[str, Command] = {
        "leave": VoiceLeave(),
        "mute": VoiceMute(muted=True),
        "unmute": VoiceMute(muted=False),
        "deafen": VoiceDeafen(deafened=True),
        "undeafen": VoiceDeafen(deafened=False),
    }
    if action in simple:
        if len(args) > 1:
            raise _usage_error("voice", f"/voice {action} takes no arguments")
        return simple[action]
    raise _usage_error("voice", f"unknown action {args[0]!r}")


def _parse_nick(_args: list[str], rest: str) -> Command:
    name = rest.strip()
    if not name:
        raise _usage_error("nick", "the new display name is missing")
    return Nick(name=name)


def _parse_quit(args: list[str], _rest: str) -> Command:
    if args:
        raise _usage_error("quit", "/quit takes no arguments")
    return Quit()


_PARSERS: dict[str, Callable[[list[str], str], Command]] = {
    "help": _parse_help,
    "join": _parse_join,
    "list": _parse_list,
    "channel": _parse_channel,
    "members": _parse_members,
    "invite": _parse_invite,
    "verify": _parse_verify,
    "devices": _parse_devices,
    "voice": _parse_voice,
    "nick": _parse_nick,
    "quit": _parse_quit,
}


def parse(line: str) -> Command:
    """Parse one composer line that `is_command`.

    Args:
        line: E.g. ``/members add bob admin``.

    Returns:
        The command.

    Raises:
        CommandError: Unknown command or bad arguments; the message is shown to the user as is.
    """
    stripped = line.strip()
    if not is_command(stripped):
        raise CommandError("a command starts with /")
    word, _, rest = stripped[1:].partition(" ")
    if not word:
        raise CommandError("a command name must follow the / (try /help)")
    spec = spec_for(word)
    if spec is None:
        suggestion = _closest(word.casefold(), [s.name for s in COMMANDS])
        hint = f" - did you mean /{suggestion}?" if suggestion else ""
        raise CommandError(f"unknown command /{word}{hint} (/help lists them)")
    return _PARSERS[spec.name](_split(rest), rest)


def _closest(word: str, names: Sequence[str]) -> str | None:
    prefixed = [name for name in names if name.startswith(word) or word.startswith(name)]
    if len(prefixed) == 1:
        return prefixed[0]
    best: tuple[int, str] | None = None
    for name in names:
        distance = _edit_distance(word, name)
        if distance <= 2 and (best is None or distance < best[0]):
            best = (distance, name)
    return best[1] if best is not None else None


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]
