"""The main screen driven by the core's events through Pilot: what it shows for messages, failures,
pending messages, channels, members, presence, typing, voice and warnings; keys; inline command
errors; snapshots of the main screen and its overlays.

The core here is a real `ClientCore` that is not logged in: the screen is fed the events the core
emits (the documented interface) and anything that would reach the server fails the way it does
without a session. Flows against a real server are in tests/test_e2e_tui_*.py.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from textual.pilot import Pilot

from dialtone.client import commands as cmd
from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import (
    ChannelsChanged,
    ChannelView,
    ClientEvent,
    Connected,
    DecryptedMessage,
    DeviceKeyChanged,
    DeviceTrust,
    DeviceView,
    FailedMessage,
    FailureReason,
    MembersChanged,
    MemberView,
    MessageAcked,
    MessageFailed,
    MessageQueued,
    MessageReceived,
    MessageRejected,
    NewDeviceNeedsApproval,
    Offline,
    Presence,
    Reconnecting,
    SafetyNumberView,
    Speaking,
    Typing,
    VoiceDaemonState,
    VoiceMemberView,
    VoiceRoster,
    VoiceState,
)
from dialtone.client.messages import CoreEvent, VoiceDaemonExited
from dialtone.client.screens import main as main_module
from dialtone.client.screens.help import HelpScreen
from dialtone.client.screens.main import MainScreen
from dialtone.client.screens.verify import VerifyScreen
from dialtone.client.testing import assert_snapshot, screen_text, wait_until, wheel
from dialtone.client.widgets.composer import Composer
from dialtone.client.widgets.sidebar import ChannelList

SNAPSHOTS = Path(__file__).parent / "snapshots"
T0 = datetime(2025, 11, 26, 9, 30, tzinfo=UTC)
NOW = datetime(2025, 11, 26, 10, 0, tzinfo=UTC)
GENERAL = "6f1c0a52-0000-4000-8000-000000000001"
RANDOM = "6f1c0a52-0000-4000-8000-000000000002"
LOCKED = "9a3e1b77-0000-4000-8000-000000000003"
ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"


def channel(channel_id: str, name: str | None, *, unread: int = 0, last: int = 3) -> ChannelView:
    return ChannelView(
        channel_id=channel_id,
        name=name,
        role="owner" if name == "general" else "member",
        epoch=1,
        has_key=name is not None,
        last_seq=last,
        read_seq=last - unread,
        unread=unread,
    )


CHANNELS = ChannelsChanged(
    channels=(
        channel(GENERAL, "general"),
        channel(RANDOM, "random", unread=7, last=12),
        channel(LOCKED, None, last=0),
    )
)


def said(
    seq: int | None,
    who: str,
    body: str,
    *,
    channel_id: str = GENERAL,
    own: bool = False,
    msg_id: str | None = None,
) -> DecryptedMessage:
    return DecryptedMessage(
        channel_id=channel_id,
        seq=seq,
        client_msg_id=msg_id or f"msg-{seq}",
        sender_user_id=ALICE if who == "Alice" else BOB,
        sender_device_id=f"dev-{who}",
        sender_name=who,
        body=body,
        server_ts=None if seq is None else T0 + timedelta(minutes=seq),
        created_at=T0 + timedelta(minutes=9),
        epoch=1,
        own=own,
        pending=seq is None,
        sender_trust=DeviceTrust.VERIFIED if who == "Alice" else DeviceTrust.FIRST_SEEN,
    )


def unreadable(seq: int, reason: FailureReason, detail: str) -> FailedMessage:
    return FailedMessage(
        channel_id=GENERAL,
        seq=seq,
        client_msg_id=f"msg-{seq}",
        sender_user_id=BOB,
        sender_device_id="dev-Bob",
        server_ts=T0 + timedelta(minutes=seq),
        epoch=1,
        reason=reason,
        detail=detail,
    )


@attrs.define
class Rig:
    app: DialtoneApp
    pilot: Pilot[int]
    screen: MainScreen
    core: ClientCore
    bells: list[int]

    async def feed(self, *events: ClientEvent) -> None:
        for event in events:
            self.screen.post_message(CoreEvent(event))
        await self.pilot.pause()

    def text(self) -> str:
        return screen_text(self.app)

    def top(self) -> object:
        """The screen on top (typed loosely: it changes as keys are pressed)."""
        return self.app.screen

    async def type(self, text: str) -> None:
        await self.pilot.press(*text)

    async def command(self, line: str) -> None:
        self.screen.composer.focus()
        await self.type(line)
        await self.pilot.press("enter")
        await self.pilot.pause()

    async def shows(self, *fragments: str) -> None:
        await wait_until(
            self.pilot,
            lambda: all(f in self.text() for f in fragments),
            within=10,
            what=f"{fragments} on screen",
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    options = ClientOptions(server_url="http://127.0.0.1:9", data_dir=tmp_path / "profiles")
    app = DialtoneApp(options, tz=UTC, clock=lambda: NOW)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 32)) as pilot:
        core = ClientCore(options)
        screen = app.make_main_screen(core)
        await app.push_screen(screen)
        await pilot.pause()
        try:
            yield Rig(app, pilot, screen, core, bells)
        finally:
            await core.close()


async def conversation(rig: Rig) -> None:
    await rig.feed(
        CHANNELS,
        MessageReceived(channel_id=GENERAL, message=said(1, "Alice", "hello @bob, coffee?")),
        MessageReceived(
            channel_id=GENERAL,
            message=said(2, "Bob", "yes! " + "a longer reply that wraps over lines " * 3),
        ),
        MembersChanged(
            channel_id=GENERAL,
            members=(
                MemberView(user_id=ALICE, display_name="Alice", role="owner", presence="online"),
                MemberView(user_id=BOB, display_name="Bob", role="member"),
            ),
        ),
        Connected(user_id=ALICE, device_id="dev-Alice", protocol_version=1),
    )


async def test_messages_show_time_sender_and_body_in_the_open_channel(rig: Rig) -> None:
    await conversation(rig)
    await rig.shows("09:31 Alice ✓  hello @bob, coffee?", "09:32 Bob  yes! a longer reply")
    assert "#general" in rig.text().splitlines()[0]


async def test_a_message_that_cannot_be_read_says_why_in_its_place(rig: Rig) -> None:
    await rig.feed(
        CHANNELS,
        MessageFailed(
            channel_id=GENERAL,
            message=unreadable(4, FailureReason.NO_KEY_YET, "no key for epoch 2"),
        ),
        MessageFailed(
            channel_id=GENERAL,
            message=unreadable(5, FailureReason.UNVERIFIED_SENDER, "device keys changed"),
        ),
        MessageFailed(
            channel_id=GENERAL, message=unreadable(6, FailureReason.TAMPERED, "bad signature")
        ),
    )
    await rig.shows(
        "⚠ cannot read this message: no key yet (no key",
        "⚠ cannot read this message: unverified sender",
        "⚠ cannot read this message: tampered (bad",
    )


async def test_our_message_shows_pending_until_acked(rig: Rig) -> None:
    await rig.feed(
        CHANNELS,
        MessageQueued(
            channel_id=GENERAL, message=said(None, "Alice", "on my way", own=True, msg_id="q1")
        ),
    )
    await rig.shows("Alice ✓  on my way  (pending)")
    await rig.feed(
        MessageAcked(channel_id=GENERAL, client_msg_id="q1", seq=3, server_ts=T0 + timedelta(3))
    )
    await wait_until(rig.pilot, lambda: "(pending)" not in rig.text(), what="no longer pending")
    assert "on my way" in rig.text()


async def test_a_message_the_server_refused_stays_with_the_reason(rig: Rig) -> None:
    await rig.feed(
        CHANNELS,
        MessageQueued(
            channel_id=GENERAL, message=said(None, "Alice", "lost words", own=True, msg_id="q2")
        ),
        MessageRejected(
            channel_id=GENERAL, client_msg_id="q2", code="forbidden", message="not a member"
        ),
    )
    await rig.shows("lost words  (not sent: not a member)")


async def test_the_sidebar_shows_unread_counts_and_ctrl_arrows_switch_channels(rig: Rig) -> None:
    await conversation(rig)
    await rig.shows("#random             7")
    assert "#9a3e1b77 (no key" in rig.text()
    await rig.pilot.press("ctrl+down")
    assert rig.screen.current == RANDOM
    await rig.shows("#random │")
    await rig.pilot.press("ctrl+up", "ctrl+up")
    assert rig.screen.current == LOCKED
    await rig.pilot.press("ctrl+down")
    assert rig.screen.current == GENERAL


async def test_clicking_a_channel_opens_it(rig: Rig) -> None:
    await conversation(rig)
    sidebar = rig.screen.query_one("#sidebar", ChannelList)
    await rig.pilot.click(ChannelList, offset=(3, 2))
    assert sidebar.channel_at(2) == RANDOM
    assert rig.screen.current == RANDOM


async def test_ctrl_l_hides_and_shows_the_sidebar(rig: Rig) -> None:
    await conversation(rig)
    sidebar = rig.screen.query_one("#sidebar", ChannelList)
    assert sidebar.display
    await rig.pilot.press("ctrl+l")
    assert not sidebar.display
    await rig.pilot.press("ctrl+l")
    assert sidebar.display


@pytest.mark.parametrize("key", ["f1", "ctrl+underscore"])
async def test_f1_or_ctrl_slash_opens_the_help_overlay_and_escape_closes_it(
    rig: Rig, key: str
) -> None:
    await rig.pilot.press(key)
    assert isinstance(rig.top(), HelpScreen)
    await rig.shows("Ctrl+Up / Ctrl+Down", "/join <channel>")
    await rig.pilot.press("escape")
    assert rig.top() is rig.screen


async def test_an_unknown_command_or_bad_argument_gets_a_clear_inline_message(rig: Rig) -> None:
    await conversation(rig)
    await rig.command("/frobnicate")
    await rig.shows("unknown command /frobnicate (/help lists them)")
    await rig.command("/members add bob owner")
    await rig.shows("the role must be member or admin, not 'owner'", "usage:")
    await rig.command("/jion general")
    await rig.shows("did you mean /join?")


async def test_help_and_list_commands_answer_inline(rig: Rig) -> None:
    await conversation(rig)
    await rig.command("/help verify")
    await rig.shows("/verify: compare safety numbers with a user, then mark them", "/verify <user>")
    await rig.command("/ls")
    await rig.shows("* #general  (owner)", "#random  (member)  7 unread")


async def test_commands_that_need_the_server_fail_inline_without_a_session(rig: Rig) -> None:
    await conversation(rig)
    await rig.command("/members")
    await rig.shows("/members: no channel '6f1c0a52")
    await rig.command("/join nowhere")
    await rig.shows("/join: no channel 'nowhere'")


async def test_a_command_needing_an_open_channel_says_so(rig: Rig) -> None:
    await rig.command("/members add bob")
    await rig.shows("/members add: open a channel first (/join <channel>)")


async def test_enter_sends_and_ctrl_j_starts_a_new_line(rig: Rig) -> None:
    composer = rig.screen.query_one("#composer", Composer)
    composer.focus()
    await rig.type("first")
    await rig.pilot.press("ctrl+j")
    await rig.type("second")
    assert composer.text == "first\nsecond"
    await rig.pilot.press("enter")
    assert composer.text == ""
    await rig.shows("open a channel first")
    await conversation(rig)
    await rig.command("hello there")
    await rig.shows("not sent: log in or register first")


async def test_typing_shows_and_clears_when_the_message_arrives_or_time_passes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await conversation(rig)
    await rig.feed(Typing(channel_id=GENERAL, user_id=BOB, display_name="Bob"))
    await rig.shows("Bob is typing…")
    await rig.feed(MessageReceived(channel_id=GENERAL, message=said(3, "Bob", "done")))
    await wait_until(rig.pilot, lambda: "typing…" not in rig.text(), what="typing cleared")
    monkeypatch.setattr(main_module, "TYPING_SHOWN_S", 0.3)
    await rig.feed(Typing(channel_id=GENERAL, user_id=ALICE, display_name="Alice"))
    await rig.shows("Alice is typing…")
    await wait_until(rig.pilot, lambda: "typing…" not in rig.text(), what="typing expired")


async def test_presence_changes_show_in_the_members_panel(rig: Rig) -> None:
    await conversation(rig)
    await rig.shows("● Alice (owner)", "○ Bob")
    await rig.feed(Presence(user_id=BOB, status="away"))
    await rig.shows("◐ Bob")


async def test_the_header_follows_the_connection_state(rig: Rig) -> None:
    await conversation(rig)
    await rig.shows("● online")
    await rig.feed(Reconnecting(attempt=2, delay=4.0, reason="server closed"))
    await rig.shows("◌ reconnecting (try 2 in 4s)")
    await rig.feed(Offline(reason="logged out"))
    await rig.shows("○ offline (logged out)")


async def test_changed_device_keys_are_a_loud_warning(rig: Rig) -> None:
    await conversation(rig)
    await rig.feed(
        DeviceKeyChanged(
            user_id=BOB,
            display_name="Bob",
            device_id="d3adbeef-0000",
            old_fingerprint="AAAA BBBB",
            new_fingerprint="CCCC DDDD",
        )
    )
    await rig.shows("WARNING: the keys of a device of Bob CHANGED", "/verify Bob")
    assert rig.bells


async def test_a_new_device_waiting_for_approval_says_how_to_approve_it(rig: Rig) -> None:
    await conversation(rig)
    device = DeviceView(
        user_id=ALICE,
        device_id="5ec0nd00-dev1",
        fingerprint="QRST UVWX",
        status="pending",
        trust=DeviceTrust.PENDING,
    )
    await rig.feed(NewDeviceNeedsApproval(device=device))
    await rig.shows("a new device of yours is waiting", "/devices approve 5ec0nd00")


async def test_the_voice_panel_shows_a_missing_daemon_and_who_speaks(rig: Rig) -> None:
    await conversation(rig)
    await rig.shows("daemon: not started (use")
    await rig.feed(VoiceDaemonState(available=False, reason="no daemon at /run/x.sock"))
    await rig.shows("daemon: unavailable: no")
    await rig.feed(
        VoiceDaemonState(available=True, reason="ok", ptt_backend="portal"),
        VoiceState(channel_id=GENERAL, connected=True, muted=True, deafened=False),
        VoiceRoster(
            channel_id=GENERAL,
            members=(
                VoiceMemberView(user_id=ALICE, device_id="dev-Alice", display_name="Alice"),
                VoiceMemberView(user_id=BOB, device_id="dev-Bob", display_name="Bob"),
            ),
        ),
        Speaking(user_id=BOB, device_id="dev-Bob", speaking=True),
    )
    await rig.shows("daemon: ready,", "push-to-talk: portal", "#general: connected", "» Bob")
    assert "voice: #general (muted)" in rig.text().splitlines()[0]
    await rig.feed(Speaking(user_id=BOB, device_id="dev-Bob", speaking=False))
    await wait_until(rig.pilot, lambda: "» Bob" not in rig.text(), what="Bob stopped speaking")


async def test_a_crashed_voice_daemon_is_shown_and_chat_goes_on(rig: Rig) -> None:
    await conversation(rig)
    rig.screen.post_message(VoiceDaemonExited("exited with status 1: no audio device"))
    await rig.shows("the voice daemon stopped (exited with status 1: no audio", "daemon: stopped")
    await rig.feed(MessageReceived(channel_id=GENERAL, message=said(3, "Bob", "still here")))
    await rig.shows("Bob  still here")


async def test_page_up_scrolls_back_and_new_messages_do_not_pull_the_view_down(rig: Rig) -> None:
    await rig.feed(
        CHANNELS,
        *(
            MessageReceived(channel_id=GENERAL, message=said(n, "Bob", f"line {n}"))
            for n in range(1, 121)
        ),
    )
    log = rig.screen.log_view
    await wait_until(rig.pilot, lambda: log.scroll_y == log.max_scroll_y > 0, what="at bottom")
    await rig.pilot.press("pageup")
    await rig.pilot.pause()
    scrolled = log.scroll_y
    assert scrolled < log.max_scroll_y
    await rig.feed(MessageReceived(channel_id=GENERAL, message=said(121, "Bob", "newest")))
    assert log.scroll_y == scrolled
    await rig.pilot.press("pagedown", "pagedown", "pagedown")
    await rig.shows("Bob  newest")
    await wheel(rig.pilot, log, notches=4)
    assert log.scroll_y < log.max_scroll_y
    await wheel(rig.pilot, log, up=False, notches=40)
    assert log.scroll_y == log.max_scroll_y


async def test_quit_command_closes_the_app(rig: Rig) -> None:
    await rig.command("/quit")
    await wait_until(rig.pilot, lambda: not rig.app.is_running, what="the app to exit")
    assert rig.app.return_code == 0


def test_every_command_the_parser_returns_has_a_handler() -> None:
    assert set(typing.get_args(cmd.Command)) == set(main_module._COMMAND_HANDLERS)


def test_every_event_the_core_emits_has_a_handler() -> None:
    assert set(typing.get_args(ClientEvent)) == set(main_module._EVENT_HANDLERS)


# --- snapshots -----------------------------------------------------------------------------------


async def test_snapshot_of_the_main_screen(rig: Rig) -> None:
    await conversation(rig)
    await rig.feed(
        MessageFailed(
            channel_id=GENERAL, message=unreadable(3, FailureReason.TAMPERED, "bad signature")
        ),
        MessageQueued(channel_id=GENERAL, message=said(None, "Alice", "see you there", own=True)),
        Typing(channel_id=GENERAL, user_id=BOB, display_name="Bob"),
    )
    await rig.shows("see you there", "Bob is typing…")
    assert_snapshot(rig.app, SNAPSHOTS, "main_screen")


async def test_snapshot_of_the_help_overlay(rig: Rig) -> None:
    await rig.pilot.press("f1")
    await rig.shows("Dialtone help")
    assert_snapshot(rig.app, SNAPSHOTS, "help_overlay")


async def test_snapshot_of_the_verify_overlay(rig: Rig) -> None:
    view = SafetyNumberView(
        user_id=BOB,
        display_name="Bob",
        safety_number=" ".join(f"{n:05d}" for n in range(12345, 12357)),
        devices=(
            DeviceView(
                user_id=BOB,
                device_id="b0bd3v1c-0001",
                fingerprint="ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567",
                status="approved",
                trust=DeviceTrust.FIRST_SEEN,
            ),
        ),
    )
    results: list[bool | None] = []
    rig.app.push_screen(VerifyScreen(view), callback=results.append)
    await rig.shows("Safety number", "12345 12346 12347 12348")
    assert_snapshot(rig.app, SNAPSHOTS, "verify_overlay")
    await rig.pilot.click("#confirm")
    await wait_until(rig.pilot, lambda: results == [True], what="the overlay to confirm")
