"""`MainScreen`: header, channel sidebar, message view, composer, members and voice panel.

It keeps the view state (channels, one `Timeline` per channel, members, presence, typing, voice)
up to date from the core's events, which the app delivers as `CoreEvent` messages, and runs every
command and message send in a worker: the screen never waits on the network or on crypto.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from dialtone.client import commands as cmd
from dialtone.client.core import ClientCore
from dialtone.client.core.errors import ChannelNotFoundError
from dialtone.client.core.events import (
    ChannelKeysArrived,
    ChannelsChanged,
    ChannelView,
    ClientEvent,
    Connected,
    ConnectionState,
    DecryptedMessage,
    DeviceKeyChanged,
    DevicesChanged,
    DeviceTrust,
    DeviceView,
    Error,
    HistoryLoaded,
    KeyRotated,
    MembersChanged,
    MemberView,
    MessageAcked,
    MessageFailed,
    MessageQueued,
    MessageReceived,
    MessageRejected,
    NewDeviceNeedsApproval,
    Notice,
    Offline,
    Presence,
    ProfileChanged,
    ReadMarker,
    Reconnecting,
    SignalingRefused,
    Speaking,
    Synced,
    Typing,
    VoiceDaemonState,
    VoiceLevel,
    VoiceMembers,
    VoiceMemberView,
    VoiceRoster,
    VoiceState,
)
from dialtone.client.explain import EXPECTED_ERRORS, explain
from dialtone.client.messages import CoreEvent, VoiceDaemonExited
from dialtone.client.screens.help import HelpScreen
from dialtone.client.screens.verify import VerifyScreen
from dialtone.client.timeline import Change, LineLevel, LocalLine, Timeline
from dialtone.client.widgets.composer import Composer
from dialtone.client.widgets.header import HeaderState, StatusHeader
from dialtone.client.widgets.message_log import MessageLog
from dialtone.client.widgets.people import PeoplePanel, PeopleState, VoicePanelState
from dialtone.client.widgets.sidebar import ChannelList, channel_label
from dialtone.client.widgets.typing_line import TypingLine, typing_text

if TYPE_CHECKING:
    from dialtone.client.notify import Notifier

__all__ = ["CONSOLE", "MainScreen", "mentions"]

CONSOLE = ""
"""The timeline shown while no channel is open (command output goes there)."""

TYPING_SHOWN_S = 5.0
READ_MARK_DELAY_S = 0.5


def mentions(body: str, names: tuple[str, ...]) -> bool:
    """Whether a message body mentions the user (``@name``, case-insensitive, whole word).

    Args:
        body: The text.
        names: The user's username and display name.

    Returns:
        True when one of the names is mentioned.
    """
    folded = body.casefold()
    for name in names:
        if not name:
            continue
        token = "@" + name.casefold()
        start = folded.find(token)
        while start != -1:
            end = start + len(token)
            if end == len(folded) or not (folded[end].isalnum() or folded[end] in "_-"):
                return True
            start = folded.find(token, end)
    return False


def _now() -> datetime:
    return datetime.now().astimezone()


class MainScreen(Screen[None]):
    """The chat.

    Args:
        core: The logged-in client core.
        notifier: How mentions in other channels are signalled.
        tz: Time zone of timestamps (None: local).
        voice_meter: Whether to show our microphone level.
        clock: The time of local lines (tests pin it).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+up", "previous_channel", "Prev channel", priority=True),
        Binding("ctrl+down", "next_channel", "Next channel", priority=True),
        Binding("pageup", "page_up", "Older", show=False, priority=True),
        Binding("pagedown", "page_down", "Newer", show=False, priority=True),
    ]

    def __init__(
        self,
        core: ClientCore,
        *,
        notifier: Notifier | None = None,
        tz: tzinfo | None = None,
        voice_meter: bool = False,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__()
        self.core = core
        self.clock = clock
        self.notifier = notifier
        self.tz = tz
        self.voice_meter = voice_meter
        self.channels: tuple[ChannelView, ...] = core.channels
        self.current: str | None = None
        self.timelines: dict[str, Timeline] = {CONSOLE: Timeline(CONSOLE)}
        self.members: dict[str, tuple[MemberView, ...]] = {}
        self.presence: dict[str, str] = {}
        self.typing: dict[str, dict[str, tuple[str, float]]] = {}
        self.mentioned: set[str] = set()
        self.connection = core.connection_state
        self.connection_detail = ""
        self.voice = VoicePanelState()
        self.voice_channel: str | None = None
        self.voice_rosters: dict[str, tuple[VoiceMemberView, ...]] = {}
        self.voice_peers: dict[str, dict[str, VoiceMemberView]] = {}
        self._read_mark_due: dict[str, float] = {}

    # --- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Header, sidebar, messages + composer, people panel, footer."""
        yield StatusHeader(id="header")
        with Horizontal(id="body"):
            yield ChannelList(id="sidebar")
            with Vertical(id="center"):
                yield MessageLog(id="messages")
                yield TypingLine(id="typing")
                yield Composer(placeholder="Message, or /help", id="composer")
            yield PeoplePanel(id="people")
        yield Footer()

    @property
    def log_view(self) -> MessageLog:
        """The message view."""
        return self.query_one("#messages", MessageLog)

    @property
    def composer(self) -> Composer:
        """The input."""
        return self.query_one("#composer", Composer)

    def on_mount(self) -> None:
        """Show the channels known so far and open the first one."""
        log = self.log_view
        log.tz = self.tz
        log.name_of = self.core.display_name
        log.set_mention_names(self._my_names())
        self.set_interval(1.0, self._tick)
        if self.channels:
            self.open_channel(self.channels[0].channel_id)
        else:
            log.show(self.timelines[CONSOLE])
            self.say("No channels yet: /channel create <name> starts one. F1 shows help.")
        self._refresh_all()
        self.composer.focus()

    def _my_names(self) -> tuple[str, ...]:
        account = self.core.account
        if account is None:
            return ()
        return tuple(dict.fromkeys((account.username, self.core.display_name(account.user_id))))

    # --- view state ------------------------------------------------------------------------------

    def _timeline(self, channel_id: str) -> Timeline:
        timeline = self.timelines.get(channel_id)
        if timeline is None:
            timeline = self.timelines[channel_id] = Timeline(channel_id)
        return timeline

    def _apply(self, channel_id: str, change: Change) -> None:
        if channel_id == (self.current or CONSOLE):
            self.log_view.apply(change)

    def _channel_view(self, channel_id: str | None) -> ChannelView | None:
        return next((c for c in self.channels if c.channel_id == channel_id), None)

    def _title(self, channel_id: str | None) -> str | None:
        """The channel's label (``#name``), or None for no (known) channel."""
        view = self._channel_view(channel_id)
        return channel_label(view) if view is not None else None

    def say(
        self, text: str, level: LineLevel = LineLevel.INFO, channel_id: str | None = None
    ) -> None:
        """Write a local line into a channel's view (default: the open one).

        Args:
            text: The text.
            level: How loud.
            channel_id: The channel (None: the open one, or the console).
        """
        target = channel_id if channel_id is not None else (self.current or CONSOLE)
        line = LocalLine(text=text, at=self.clock(), level=level)
        self._apply(target, self._timeline(target).add_local(line))

    def _refresh_header(self) -> None:
        account = self.core.account
        user = ""
        fingerprint = ""
        if account is not None:
            name = self.core.display_name(account.user_id)
            user = account.username if name == account.username else f"{name} ({account.username})"
            fingerprint = account.short_fingerprint
        voice = None
        if self.voice_channel is not None:
            voice = f"{self._title(self.voice_channel) or self.voice_channel[:8]}"
            flags = [
                f for f, on in (("muted", self.voice.muted), ("deaf", self.voice.deafened)) if on
            ]
            if flags:
                voice += f" ({', '.join(flags)})"
        self.query_one("#header", StatusHeader).show(
            HeaderState(
                user=user,
                fingerprint=fingerprint,
                channel=self._title(self.current),
                voice=voice,
                connection=self.connection,
                detail=self.connection_detail,
            )
        )

    def _refresh_sidebar(self) -> None:
        self.query_one("#sidebar", ChannelList).show(
            self.channels, self.current, frozenset(self.mentioned)
        )

    def _refresh_people(self) -> None:
        members = self.members.get(self.current, ()) if self.current else ()
        roster = []
        room = self.voice_channel or ""
        peers = self.voice_peers.get(room, {})
        for member in self.voice_rosters.get(room, ()):
            peer = peers.get(member.device_id)
            if peer is not None:
                member = attrs.evolve(member, state=peer.state, speaking=peer.speaking)
            roster.append(member)
        voice = attrs.evolve(
            self.voice,
            room=self._title(self.voice_channel) if self.voice_channel else None,
            members=tuple(roster),
        )
        presence = dict(self.presence)
        account = self.core.account
        if account is not None and self.connection is ConnectionState.ONLINE:
            # The server announces presence changes to others, not to ourselves.
            presence.setdefault(account.user_id, "online")
        self.query_one("#people", PeoplePanel).show(
            PeopleState(members=members, presence=presence, voice=voice)
        )

    def _refresh_typing(self) -> None:
        now = time.monotonic()
        names = [
            name
            for name, until in self.typing.get(self.current or CONSOLE, {}).values()
            if until > now
        ]
        self.query_one("#typing", TypingLine).show(typing_text(names))

    def _refresh_all(self) -> None:
        self._refresh_header()
        self._refresh_sidebar()
        self._refresh_people()
        self._refresh_typing()

    def _tick(self) -> None:
        self._refresh_typing()
        now = time.monotonic()
        for channel_id, due in list(self._read_mark_due.items()):
            if due <= now:
                del self._read_mark_due[channel_id]
                self._mark_read(channel_id)

    # --- channels --------------------------------------------------------------------------------

    def open_channel(self, channel_id: str) -> None:
        """Show a channel: its messages (the newest page is loaded the first time), members,
        typing line; the read marker follows when the newest message is seen.

        Args:
            channel_id: The channel.
        """
        self.current = channel_id
        self.mentioned.discard(channel_id)
        timeline = self._timeline(channel_id)
        self.log_view.show(timeline)
        if not timeline.loaded:
            self._load_newest(channel_id)
        if channel_id not in self.members:
            self._load_members(channel_id)
        self._refresh_all()

    def _step_channel(self, step: int) -> None:
        if not self.channels:
            return
        ids = [c.channel_id for c in self.channels]
        index = ids.index(self.current) if self.current in ids else -step
        self.open_channel(ids[(index + step) % len(ids)])

    def action_previous_channel(self) -> None:
        """Open the channel above the open one."""
        self._step_channel(-1)

    def action_next_channel(self) -> None:
        """Open the channel below the open one."""
        self._step_channel(1)

    def action_toggle_sidebar(self) -> None:
        """Show or hide the channel sidebar."""
        self.query_one("#sidebar", ChannelList).toggle_class("hidden")

    def action_page_up(self) -> None:
        """Scroll the messages up (older pages load at the top)."""
        self.log_view.action_page_up()

    def action_page_down(self) -> None:
        """Scroll the messages down."""
        self.log_view.action_page_down()

    def action_help(self) -> None:
        """Show the help overlay."""
        self.app.push_screen(HelpScreen())

    @on(ChannelList.Selected)
    def _channel_clicked(self, message: ChannelList.Selected) -> None:
        self.open_channel(message.channel_id)
        self.composer.focus()

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _load_newest(self, channel_id: str) -> None:
        # Exclusive: switching channels quickly abandons the load of the one left behind.
        try:
            page = await self.core.open_channel(channel_id)
        except EXPECTED_ERRORS as exc:
            self.say(f"cannot load the messages: {explain(exc)}", LineLevel.ERROR, channel_id)
            return
        self._apply(channel_id, self._timeline(channel_id).merge_page(page))
        if channel_id == self.current:
            self._schedule_read_mark(channel_id)

    @work(group="reload", exit_on_error=False)
    async def _reload(self, channel_id: str) -> None:
        try:
            page = await self.core.load_history(channel_id)
        except EXPECTED_ERRORS:
            return
        self._apply(channel_id, self._timeline(channel_id).merge_page(page))

    @on(MessageLog.OlderWanted)
    def _older_wanted(self, message: MessageLog.OlderWanted) -> None:
        self._load_older(message.channel_id, message.before)

    @work(exclusive=True, group="older", exit_on_error=False)
    async def _load_older(self, channel_id: str, before: int | None) -> None:
        try:
            page = await self.core.load_history(channel_id, before=before)
        except EXPECTED_ERRORS as exc:
            self.say(f"cannot load older messages: {explain(exc)}", LineLevel.ERROR, channel_id)
            return
        finally:
            if channel_id == self.current:
                self.log_view.older_loaded()
        self._apply(channel_id, self._timeline(channel_id).merge_page(page))

    @work(group="members", exit_on_error=False)
    async def _load_members(self, channel_id: str) -> None:
        try:
            members = await self.core.members(channel_id)
        except EXPECTED_ERRORS:
            return
        self.members[channel_id] = members
        self._refresh_people()

    @on(MessageLog.ReachedBottom)
    def _reached_bottom(self, message: MessageLog.ReachedBottom) -> None:
        self._schedule_read_mark(message.channel_id)

    def _schedule_read_mark(self, channel_id: str) -> None:
        # Debounced: while messages pour in, the marker moves twice a second at most.
        self._read_mark_due.setdefault(channel_id, time.monotonic() + READ_MARK_DELAY_S)

    def _mark_read(self, channel_id: str) -> None:
        if channel_id != self.current or not self.app.is_running:
            return
        seq = self._timeline(channel_id).newest_seq
        view = self._channel_view(channel_id)
        if seq is not None and view is not None and seq > view.read_seq:
            self._run(self.core.mark_read(channel_id, seq), "moving the read marker", quiet=True)

    # --- sending ---------------------------------------------------------------------------------

    @on(Composer.Submitted)
    def _submitted(self, message: Composer.Submitted) -> None:
        text = message.text
        if cmd.is_command(text):
            try:
                command = cmd.parse(text)
            except cmd.CommandError as exc:
                self.say(str(exc), LineLevel.ERROR)
                return
            self.run_command(command)
            return
        if self.current is None:
            self.say(
                "open a channel first: /join <channel>, or /channel create <name>", LineLevel.ERROR
            )
            return
        self._send(self.current, cmd.unescape(text))

    @on(Composer.Edited)
    def _edited(self) -> None:
        if self.current is not None and not self.composer.text.startswith("/"):
            self._run(self.core.send_typing(self.current), "typing", quiet=True)

    @work(group="send", exit_on_error=False)
    async def _send(self, channel_id: str, body: str) -> None:
        # Not exclusive: every message written must be sent, in order.
        try:
            await self.core.send_message(channel_id, body)
        except EXPECTED_ERRORS as exc:
            self.say(f"not sent: {explain(exc)}", LineLevel.ERROR, channel_id)

    def _run(self, call: Coroutine[Any, Any, object], what: str, *, quiet: bool = False) -> None:
        async def guarded() -> None:
            try:
                await call
            except EXPECTED_ERRORS as exc:
                if not quiet:
                    self.say(f"{what}: {explain(exc)}", LineLevel.ERROR)

        self.run_worker(guarded(), group="calls", exit_on_error=False)

    # --- commands --------------------------------------------------------------------------------

    def run_command(self, command: cmd.Command) -> None:
        """Run a parsed command; its output and errors appear in the open channel's view.

        Args:
            command: The command.
        """
        handler = _COMMAND_HANDLERS.get(type(command))
        if handler is None:
            self.say(f"{type(command).__name__} is not available here", LineLevel.ERROR)
            return
        self._command_worker(handler, command)

    @work(group="commands", exit_on_error=False)
    async def _command_worker(
        self,
        handler: Callable[[MainScreen, Any], Coroutine[Any, Any, None]],
        command: cmd.Command,
    ) -> None:
        # Not exclusive: a command that creates or removes something must finish, not be cut
        # short by the next one.
        try:
            await handler(self, command)
        except EXPECTED_ERRORS as exc:
            self.say(f"{cmd.command_name(command)}: {explain(exc)}", LineLevel.ERROR)

    def _require_channel(self) -> str:
        if self.current is None:
            raise ChannelNotFoundError("open a channel first (/join <channel>)")
        return self.current

    async def _help(self, command: cmd.Help) -> None:
        if command.topic is None:
            lines = ["Commands (/help <command> for its forms, F1 for keys):"]
            lines += [f"  {spec.usage[0]} - {spec.summary}" for spec in cmd.COMMANDS]
            self.say("\n".join(lines))
            return
        spec = cmd.spec_for(command.topic)
        assert spec is not None
        aliases = f"  (also {', '.join('/' + a for a in spec.aliases)})" if spec.aliases else ""
        self.say("\n".join([f"/{spec.name}: {spec.summary}{aliases}", *spec.usage]))

    async def _join(self, command: cmd.Join) -> None:
        view = self.core.channel(command.channel)
        self.open_channel(view.channel_id)

    async def _list(self, _command: cmd.ChannelList) -> None:
        if not self.channels:
            self.say("no channels yet: /channel create <name>")
            return
        lines = ["Channels:"]
        for channel in self.channels:
            unread = f"  {channel.unread} unread" if channel.unread else ""
            marker = "*" if channel.channel_id == self.current else " "
            lines.append(f" {marker} {channel_label(channel)}  ({channel.role}){unread}")
        self.say("\n".join(lines))

    async def _channel_create(self, command: cmd.ChannelCreate) -> None:
        view = await self.core.create_channel(command.name, command.members)
        self._upsert_channel(view)
        self.open_channel(view.channel_id)
        added = f" with {', '.join(command.members)}" if command.members else ""
        self.say(f"created {channel_label(view)}{added}")

    async def _channel_rename(self, command: cmd.ChannelRename) -> None:
        channel_id = self._require_channel()
        old = self._title(channel_id)
        view = await self.core.rename_channel(channel_id, command.name)
        self._upsert_channel(view)
        self.say(f"renamed {old} to {channel_label(view)}")

    async def _channel_delete(self, command: cmd.ChannelDelete) -> None:
        view = self.core.channel(command.channel)
        await self.core.delete_channel(view.channel_id)
        self.channels = tuple(c for c in self.channels if c.channel_id != view.channel_id)
        self._channel_gone(view.channel_id)
        self.say(f"deleted {channel_label(view)}")

    async def _members_list(self, _command: cmd.MembersList) -> None:
        channel_id = self._require_channel()
        members = await self.core.members(channel_id)
        self.members[channel_id] = members
        self._refresh_people()
        lines = [f"Members of {self._title(channel_id)}:"]
        for member in members:
            status = self.presence.get(member.user_id, member.presence)
            lines.append(f"  {member.display_name}  ({member.role}, {status})")
        self.say("\n".join(lines))

    async def _members_add(self, command: cmd.MembersAdd) -> None:
        channel_id = self._require_channel()
        await self.core.add_member(channel_id, command.user, role=command.role)
        self.say(f"added {command.user} to {self._title(channel_id)} as {command.role}")
        self._load_members(channel_id)

    async def _members_remove(self, command: cmd.MembersRemove) -> None:
        channel_id = self._require_channel()
        title = self._title(channel_id)
        await self.core.remove_member(channel_id, command.user)
        self.say(f"removed {command.user} from {title}; the channel key was rotated")
        self._load_members(channel_id)

    async def _invite(self, command: cmd.Invite) -> None:
        account = self.core.account
        if account is None or not account.is_admin:
            self.say("/invite: only server admins can create invites", LineLevel.ERROR)
            return
        token = await self.core.create_invite(ttl_seconds=command.ttl_seconds, note=command.note)
        self.say(f"invite (single use): {token}", LineLevel.WARNING)

    async def _verify(self, command: cmd.Verify) -> None:
        view = await self.core.verify_user(command.user)
        confirmed = await self.app.push_screen_wait(VerifyScreen(view))
        if confirmed:
            await self.core.mark_verified(command.user)
            self.say(f"{view.display_name} is verified: their devices now get your keys")

    async def _resolve_device(self, prefix: str) -> DeviceView:
        devices = await self.core.devices()
        found = [d for d in devices if d.device_id.startswith(prefix)]
        if not found:
            raise ValueError(f"no device of yours starts with {prefix!r} (see /devices)")
        if len(found) > 1:
            raise ValueError(f"{prefix!r} matches several devices: type more of its id")
        return found[0]

    async def _devices_list(self, _command: cmd.DevicesList) -> None:
        devices = await self.core.devices()
        lines = ["Your devices:"]
        for device in devices:
            this = "  (this device)" if device.current else ""
            lines.append(
                f"  {device.device_id[:8]}  {device.fingerprint}  {device.status}, "
                f"{device.trust.value}{this}"
            )
        pending = [d for d in devices if d.trust is DeviceTrust.PENDING]
        if pending:
            lines.append(
                "Compare a pending device's fingerprint with its screen, then "
                "/devices approve <id>."
            )
        self.say("\n".join(lines))

    async def _devices_approve(self, command: cmd.DevicesApprove) -> None:
        device = await self._resolve_device(command.device)
        await self.core.approve_device(device.device_id)
        self.say(f"approved device {device.device_id[:8]}; your keys were shared with it")

    async def _devices_revoke(self, command: cmd.DevicesRevoke) -> None:
        device = await self._resolve_device(command.device)
        await self.core.revoke_device(device.device_id)
        self.say(f"revoked device {device.device_id[:8]}; its channels moved to new keys")

    async def _voice_join(self, command: cmd.VoiceJoin) -> None:
        channel_id = (
            self.core.channel(command.channel).channel_id
            if command.channel is not None
            else self._require_channel()
        )
        await self.core.voice_join(channel_id)
        self.voice_channel = channel_id
        self._refresh_header()
        self._refresh_people()
        self.say(f"joined the voice room of {self._title(channel_id)}")

    async def _voice_leave(self, _command: cmd.VoiceLeave) -> None:
        await self.core.voice_leave()
        self.voice_channel = None
        self._refresh_header()
        self._refresh_people()
        self.say("left the voice room")

    async def _voice_mute(self, command: cmd.VoiceMute) -> None:
        await self.core.voice_mute(command.muted)
        self.say("microphone muted" if command.muted else "microphone on")

    async def _voice_deafen(self, command: cmd.VoiceDeafen) -> None:
        await self.core.voice_deafen(command.deafened)
        self.say("deafened" if command.deafened else "sound on")

    async def _nick(self, command: cmd.Nick) -> None:
        await self.core.set_display_name(command.name)
        self.log_view.set_mention_names(self._my_names())
        self._refresh_header()
        self.say(f"your display name is now {command.name}")

    async def _quit(self, _command: cmd.Quit) -> None:
        await self.app.action_quit()

    # --- core events -----------------------------------------------------------------------------

    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        self.handle_event(message.event)

    def handle_event(self, event: ClientEvent) -> None:
        """Update the view for one event of the core.

        Args:
            event: The event.
        """
        handler = _EVENT_HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _ev_connected(self, _event: Connected) -> None:
        self.connection = ConnectionState.ONLINE
        self.connection_detail = ""
        self._refresh_header()
        self._refresh_people()

    def _ev_synced(self, event: Synced) -> None:
        self.connection = ConnectionState.ONLINE
        self.connection_detail = ""
        if event.sent_from_queue:
            self.say(f"back online: {event.sent_from_queue} queued message(s) sent")
        self._refresh_header()

    def _ev_reconnecting(self, event: Reconnecting) -> None:
        self.connection = ConnectionState.RECONNECTING
        self.connection_detail = f"try {event.attempt} in {event.delay:.0f}s"
        self._refresh_header()

    def _ev_offline(self, event: Offline) -> None:
        if event.reason != self.connection_detail or self.connection is not ConnectionState.OFFLINE:
            # In full where it can be read: the header has room for a few words only (a new
            # device's "waiting for approval, fingerprint ..." is the one to read).
            self.say(f"offline: {event.reason}", LineLevel.WARNING)
        self.connection = ConnectionState.OFFLINE
        self.connection_detail = event.reason
        self._refresh_header()
        self._refresh_people()

    def _ev_message(self, event: MessageReceived | MessageFailed | MessageQueued) -> None:
        channel_id = event.channel_id
        timeline = self._timeline(channel_id)
        self._apply(channel_id, timeline.add(event.message))
        message = event.message
        if isinstance(message, DecryptedMessage) and not message.own:
            self.typing.get(channel_id, {}).pop(message.sender_user_id, None)
            if channel_id == self.current:
                self._refresh_typing()
            if isinstance(event, MessageReceived) and mentions(message.body, self._my_names()):
                self._mentioned(channel_id, message)

    def _mentioned(self, channel_id: str, message: DecryptedMessage) -> None:
        if channel_id == self.current and self.app.app_focus:
            return
        self.mentioned.add(channel_id)
        self._refresh_sidebar()
        if self.notifier is not None:
            where = self._title(channel_id) or channel_id[:8]
            summary = f"{message.sender_name} mentioned you in {where}"
            self.run_worker(self.notifier.notify(summary), group="notify", exit_on_error=False)

    def _ev_acked(self, event: MessageAcked) -> None:
        change = self._timeline(event.channel_id).ack(
            event.client_msg_id, event.seq, event.server_ts
        )
        self._apply(event.channel_id, change)

    def _ev_rejected(self, event: MessageRejected) -> None:
        change = self._timeline(event.channel_id).reject(event.client_msg_id, event.message)
        self._apply(event.channel_id, change)

    def _upsert_channel(self, view: ChannelView) -> None:
        others = [c for c in self.channels if c.channel_id != view.channel_id]
        self.channels = (*others, view)
        self._refresh_sidebar()
        self._refresh_header()

    def _channel_gone(self, channel_id: str) -> None:
        self.timelines.pop(channel_id, None)
        self.members.pop(channel_id, None)
        self.mentioned.discard(channel_id)
        if self.current == channel_id:
            self.current = None
            if self.channels:
                self.open_channel(self.channels[0].channel_id)
            else:
                self.log_view.show(self.timelines[CONSOLE])
        self._refresh_all()

    def _ev_channels(self, event: ChannelsChanged) -> None:
        known = {c.channel_id for c in event.channels}
        gone = [c.channel_id for c in self.channels if c.channel_id not in known]
        self.channels = event.channels
        for channel_id in gone:
            self._channel_gone(channel_id)
        if self.current is None and self.channels:
            self.open_channel(self.channels[0].channel_id)
        self._refresh_sidebar()
        self._refresh_header()

    def _ev_members(self, event: MembersChanged) -> None:
        self.members[event.channel_id] = event.members
        if event.channel_id == self.current:
            self._refresh_people()

    def _ev_key_rotated(self, event: KeyRotated) -> None:
        if not event.by_us:
            text = f"the channel moved to a new key (epoch {event.epoch})"
            if not event.has_key:
                text += "; waiting for a member to share it with this device"
            self.say(text, channel_id=event.channel_id)

    def _ev_keys_arrived(self, event: ChannelKeysArrived) -> None:
        timeline = self.timelines.get(event.channel_id)
        if timeline is not None and timeline.loaded:
            self._reload(event.channel_id)

    def _ev_typing(self, event: Typing) -> None:
        until = time.monotonic() + TYPING_SHOWN_S
        self.typing.setdefault(event.channel_id, {})[event.user_id] = (event.display_name, until)
        if event.channel_id == self.current:
            self._refresh_typing()

    def _ev_presence(self, event: Presence) -> None:
        self.presence[event.user_id] = event.status
        self._refresh_people()

    def _ev_profile(self, event: ProfileChanged) -> None:
        for channel_id, members in self.members.items():
            if any(m.user_id == event.user_id for m in members):
                self.members[channel_id] = tuple(
                    attrs.evolve(m, display_name=event.display_name)
                    if m.user_id == event.user_id
                    else m
                    for m in members
                )
        self._refresh_people()
        account = self.core.account
        if account is not None and event.user_id == account.user_id:
            self.log_view.set_mention_names(self._my_names())
            self._refresh_header()

    def _ev_device_key_changed(self, event: DeviceKeyChanged) -> None:
        text = (
            f"WARNING: the keys of a device of {event.display_name} CHANGED "
            f"(device {event.device_id[:8]}: was {event.old_fingerprint}, now "
            f"{event.new_fingerprint}). Nothing is sent to it and its messages show as "
            f"unverified until you compare safety numbers again: /verify {event.display_name}"
        )
        self.say(text, LineLevel.ERROR)
        self.app.notify(text, title="Device keys changed", severity="error", timeout=30)
        self.app.bell()

    def _ev_new_device(self, event: NewDeviceNeedsApproval) -> None:
        device = event.device
        text = (
            f"a new device of yours is waiting for approval: {device.device_id[:8]}, "
            f"fingerprint {device.fingerprint}. If it is yours and the fingerprint matches its "
            f"screen: /devices approve {device.device_id[:8]} (or /devices revoke)"
        )
        self.say(text, LineLevel.WARNING)
        self.app.notify(text, title="New device", severity="warning", timeout=20)

    def _ev_voice_daemon(self, event: VoiceDaemonState) -> None:
        if event.available:
            backend = f", push-to-talk: {event.ptt_backend}" if event.ptt_backend else ""
            text = f"ready{backend}"
        else:
            text = f"unavailable: {event.reason}"
        self.voice = attrs.evolve(self.voice, daemon=text, daemon_ok=event.available)
        self._refresh_people()

    def _ev_voice_exited(self, reason: str) -> None:
        self.voice = attrs.evolve(self.voice, daemon=f"stopped: {reason}", daemon_ok=False)
        self._refresh_people()
        self.say(f"the voice daemon stopped ({reason}); chat goes on", LineLevel.WARNING)

    @on(VoiceDaemonExited)
    def _voice_daemon_exited(self, message: VoiceDaemonExited) -> None:
        self._ev_voice_exited(message.reason)

    def _ev_voice_state(self, event: VoiceState) -> None:
        self.voice_channel = event.channel_id
        self.voice = attrs.evolve(
            self.voice, connected=event.connected, muted=event.muted, deafened=event.deafened
        )
        self._refresh_header()
        self._refresh_people()

    def _ev_voice_roster(self, event: VoiceRoster) -> None:
        # Kept for every room: the roster may arrive before our own join completes.
        self.voice_rosters[event.channel_id] = event.members
        self._refresh_people()

    def _ev_voice_members(self, event: VoiceMembers) -> None:
        self.voice_peers[event.channel_id] = {m.device_id: m for m in event.members}
        self._refresh_people()

    def _ev_speaking(self, event: Speaking) -> None:
        key = (event.user_id, event.device_id)
        speaking = set(self.voice.speaking)
        if event.speaking:
            speaking.add(key)
        else:
            speaking.discard(key)
        self.voice = attrs.evolve(self.voice, speaking=frozenset(speaking))
        self._refresh_people()

    def _ev_level(self, event: VoiceLevel) -> None:
        if not self.voice_meter:
            return
        filled = max(0, min(10, round((event.rms_dbfs + 60) / 6)))
        bar = "▮" * filled + "▯" * (10 - filled)
        tx = " TX" if event.transmitting else ""
        self.voice = attrs.evolve(self.voice, level=f"mic {bar} {event.rms_dbfs:.0f} dBFS{tx}")
        self._refresh_people()

    def _ev_signaling_refused(self, event: SignalingRefused) -> None:
        self.say(
            f"voice: refused a {event.kind} from device {event.from_device_id[:8]}: {event.reason}",
            LineLevel.WARNING,
        )

    def _ev_notice(self, event: Notice) -> None:
        self.say(event.text)

    def _ev_error(self, event: Error) -> None:
        self.say(event.text, LineLevel.ERROR)

    def _ignore(self, _event: ClientEvent) -> None:
        # Handled elsewhere: history pages come back from the calls that load them, read markers
        # and device lists through ChannelsChanged and the commands that show them.
        return


_EventHandler = Callable[[MainScreen, Any], None]

_EVENT_HANDLERS: dict[type, _EventHandler] = {
    Connected: MainScreen._ev_connected,
    Synced: MainScreen._ev_synced,
    Reconnecting: MainScreen._ev_reconnecting,
    Offline: MainScreen._ev_offline,
    MessageReceived: MainScreen._ev_message,
    MessageFailed: MainScreen._ev_message,
    MessageQueued: MainScreen._ev_message,
    MessageAcked: MainScreen._ev_acked,
    MessageRejected: MainScreen._ev_rejected,
    HistoryLoaded: MainScreen._ignore,
    ChannelsChanged: MainScreen._ev_channels,
    MembersChanged: MainScreen._ev_members,
    KeyRotated: MainScreen._ev_key_rotated,
    ChannelKeysArrived: MainScreen._ev_keys_arrived,
    Typing: MainScreen._ev_typing,
    Presence: MainScreen._ev_presence,
    ReadMarker: MainScreen._ignore,
    ProfileChanged: MainScreen._ev_profile,
    DeviceKeyChanged: MainScreen._ev_device_key_changed,
    NewDeviceNeedsApproval: MainScreen._ev_new_device,
    DevicesChanged: MainScreen._ignore,
    VoiceDaemonState: MainScreen._ev_voice_daemon,
    VoiceState: MainScreen._ev_voice_state,
    VoiceRoster: MainScreen._ev_voice_roster,
    VoiceMembers: MainScreen._ev_voice_members,
    Speaking: MainScreen._ev_speaking,
    VoiceLevel: MainScreen._ev_level,
    SignalingRefused: MainScreen._ev_signaling_refused,
    Notice: MainScreen._ev_notice,
    Error: MainScreen._ev_error,
}

_CommandHandler = Callable[[MainScreen, Any], Coroutine[Any, Any, None]]

_COMMAND_HANDLERS: dict[type, _CommandHandler] = {
    cmd.Help: MainScreen._help,
    cmd.Join: MainScreen._join,
    cmd.ChannelList: MainScreen._list,
    cmd.ChannelCreate: MainScreen._channel_create,
    cmd.ChannelRename: MainScreen._channel_rename,
    cmd.ChannelDelete: MainScreen._channel_delete,
    cmd.MembersList: MainScreen._members_list,
    cmd.MembersAdd: MainScreen._members_add,
    cmd.MembersRemove: MainScreen._members_remove,
    cmd.Invite: MainScreen._invite,
    cmd.Verify: MainScreen._verify,
    cmd.DevicesList: MainScreen._devices_list,
    cmd.DevicesApprove: MainScreen._devices_approve,
    cmd.DevicesRevoke: MainScreen._devices_revoke,
    cmd.VoiceJoin: MainScreen._voice_join,
    cmd.VoiceLeave: MainScreen._voice_leave,
    cmd.VoiceMute: MainScreen._voice_mute,
    cmd.VoiceDeafen: MainScreen._voice_deafen,
    cmd.Nick: MainScreen._nick,
    cmd.Quit: MainScreen._quit,
}
