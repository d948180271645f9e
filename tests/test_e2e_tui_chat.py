"""The TUI against a real server and PostgreSQL, driven with Pilot: signing up through the screens,
chatting with another user (a client core) who sees it decrypted and whose presence shows, every
command against the server, a second device approved from the first, a mention in another
channel, scrollback loading older pages, tampering shown in place, the offline queue (also across
a restart), the connect screen's check of the server, voice without a daemon, and a voice join the
real daemon cannot open.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import asyncpg
import attrs
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from dialtone.client.app import DialtoneApp
from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import (
    ChannelsChanged,
    ClientEvent,
    MessageAcked,
    MessageReceived,
    Notice,
    Offline,
    Synced,
)
from dialtone.client.screens.forms import (
    ConnectScreen,
    KeystoreScreen,
    LoginScreen,
    RegisterScreen,
)
from dialtone.client.screens.main import MainScreen
from dialtone.client.screens.verify import VerifyScreen
from dialtone.client.testing import screen_text, wait_until, wheel
from dialtone.keystore import ScryptParams
from dialtone.server.testing import ApiClient, RunningServer, StartServer, create_invite, free_port

T = TypeVar("T")
CHEAP: Final = ScryptParams(log2_n=4, r=1, p=1)
PASSWORD: Final = "correct horse battery"
PASSPHRASE: Final = "keystore passphrase"
WAIT: Final = 20.0

pytestmark = pytest.mark.slow


# --- the other side: a client core ---------------------------------------------------------------


class Peer:
    """A user (or device) on the other side, driven through the client core directly."""

    def __init__(self, name: str, core: ClientCore) -> None:
        self.name = name
        self.core = core
        self.events: list[ClientEvent] = []
        self._changed = asyncio.Event()
        core.subscribe(self._record)

    def _record(self, event: ClientEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, cls: type[T], where: Callable[[T], bool] = lambda _e: True) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            for event in self.events:
                if isinstance(event, cls) and where(event):
                    return event
            self._changed.clear()
            if loop.time() > deadline:
                seen = [type(e).__name__ for e in self.events]
                raise AssertionError(f"{self.name}: no {cls.__name__} in {WAIT} s; saw {seen}")
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError:
                continue

    async def received(self, body: str) -> MessageReceived:
        return await self.wait(MessageReceived, lambda e: e.message.body == body)

    async def channel_named(self, name: str) -> str:
        event = await self.wait(ChannelsChanged, lambda e: any(c.name == name for c in e.channels))
        return next(c.channel_id for c in event.channels if c.name == name)


def options(server_url: str, folder: Path, **extra: Any) -> ClientOptions:
    return ClientOptions(
        server_url=server_url,
        data_dir=folder,
        keystore_params=CHEAP,
        reconnect_initial_delay=0.05,
        reconnect_max_delay=0.5,
        approval_poll_interval=0.1,
        request_timeout=10.0,
        **extra,
    )


@attrs.define
class World:
    server: RunningServer
    api: ApiClient
    tmp: Path
    db_url: str
    peers: list[Peer] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url

    async def invite(self) -> str:
        admin_token = self.server.config.admin_token
        assert admin_token is not None
        return await create_invite(self.api, admin_token)

    async def peer(self, name: str, display_name: str) -> Peer:
        """A registered, connected, synced user on a client core."""
        peer = Peer(name, ClientCore(options(self.url, self.tmp / name)))
        self.peers.append(peer)
        await peer.core.register(
            invite_token=await self.invite(),
            username=name,
            password=PASSWORD,
            passphrase=PASSPHRASE,
            display_name=display_name,
        )
        await peer.core.connect()
        await peer.wait(Synced)
        return peer

    async def sql(self, statement: str, *args: object) -> None:
        connection = await asyncpg.connect(self.db_url)
        try:
            await connection.execute(statement, *args)
        finally:
            await connection.close()


@pytest.fixture
async def world(
    server: RunningServer, api: ApiClient, tmp_path: Path, db_url: str
) -> AsyncIterator[World]:
    rig = World(server, api, tmp_path, db_url)
    try:
        yield rig
    finally:
        for peer in rig.peers:
            await peer.core.close()


# --- the TUI side --------------------------------------------------------------------------------


@attrs.define
class Tui:
    app: DialtoneApp
    pilot: Pilot[int]
    bells: list[int]

    @property
    def main(self) -> MainScreen:
        screen = self.app.screen
        assert isinstance(screen, MainScreen), type(screen)
        return screen

    def text(self) -> str:
        return screen_text(self.app)

    def sidebar(self) -> list[str]:
        """The sidebar's lines, spaces squeezed: ``#work 1``."""
        return [" ".join(line[:23].split()) for line in self.text().splitlines()[1:]]

    async def sidebar_shows(self, line: str) -> None:
        await wait_until(
            self.pilot, lambda: line in self.sidebar(), within=WAIT, what=f"{line!r} in sidebar"
        )

    async def shows(self, *fragments: str, within: float = WAIT) -> None:
        await wait_until(
            self.pilot,
            lambda: all(f in self.text() for f in fragments),
            within=within,
            what=f"{fragments} on screen",
        )

    async def fill(self, selector: str, value: str) -> None:
        self.app.screen.query_one(selector, Input).value = value
        await self.pilot.pause()

    async def press(self, selector: str) -> None:
        button = self.app.screen.query_one(selector, Button)
        await wait_until(self.pilot, lambda: not button.has_class("-active"), within=2)
        await self.pilot.click(selector)
        await self.pilot.pause()

    async def command(self, line: str) -> None:
        self.main.composer.focus()
        await self.pilot.press(*line)
        await self.pilot.press("enter")
        await self.pilot.pause()

    async def in_main(self) -> None:
        await wait_until(
            self.pilot, lambda: isinstance(self.app.screen, MainScreen), within=WAIT, what="main"
        )

    async def register(self, username: str, invite: str, display_name: str) -> None:
        assert isinstance(self.app.screen, ConnectScreen)
        await self.fill("#username", username)
        await self.press("#register")
        await self.on_screen(RegisterScreen)
        await self.fill("#invite", invite)
        await self.fill("#password", PASSWORD)
        await self.fill("#password2", PASSWORD)
        await self.fill("#display-name", display_name)
        await self.press("#submit")
        await self.unlock()

    async def login(self, username: str) -> None:
        assert isinstance(self.app.screen, ConnectScreen)
        await self.fill("#username", username)
        await self.press("#login")
        await self.on_screen(LoginScreen)
        await self.fill("#password", PASSWORD)
        await self.press("#submit")
        await self.unlock()

    async def on_screen(self, kind: type[object]) -> None:
        """Wait for the next screen (the connect screen asks the server first)."""
        await wait_until(
            self.pilot, lambda: isinstance(self.app.screen, kind), within=WAIT, what=str(kind)
        )

    async def unlock(self) -> None:
        screen = self.app.screen
        assert isinstance(screen, KeystoreScreen)
        await self.fill("#passphrase", PASSPHRASE)
        if screen.creating:
            await self.fill("#passphrase2", PASSPHRASE)
        await self.press("#submit")
        await self.in_main()


TuiFactory = Callable[..., contextlib.AbstractAsyncContextManager[Tui]]


@contextlib.asynccontextmanager
async def running_tui(server_url: str, folder: Path, **extra: Any) -> AsyncIterator[Tui]:
    """A TUI app on `server_url`, its keystores in `folder`, bells counted."""
    app = DialtoneApp(options(server_url, folder, **extra))
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.pause()
        yield Tui(app, pilot, bells)


@pytest.fixture
def tui(world: World) -> TuiFactory:
    """Runs TUI apps on the test's server: ``async with tui("alice") as alice: ...``."""

    def make(folder: str, **extra: Any) -> contextlib.AbstractAsyncContextManager[Tui]:
        return running_tui(world.url, world.tmp / folder, **extra)

    return make


# --- tests ---------------------------------------------------------------------------------------


async def test_signing_up_in_the_tui_and_chatting_with_another_user(
    world: World, tui: TuiFactory
) -> None:
    bob = await world.peer("bob", "Bob Marley")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice Liddell")
        account = alice.app.core.account  # type: ignore[union-attr]
        assert account is not None
        header = alice.text().splitlines()[0]
        assert "Alice Liddell (alice)" in header
        assert account.short_fingerprint in header
        await alice.shows("● online")

        await alice.command("/channel create rabbit-hole bob")
        await alice.shows("created #rabbit-hole with bob")
        channel_id = await bob.channel_named("rabbit-hole")

        await alice.command("down the rabbit hole")
        got = await bob.received("down the rabbit hole")
        assert got.message.sender_name == "Alice Liddell"
        await bob.core.send_message(channel_id, "mind the hatter")
        await alice.shows("Bob Marley  mind the hatter")
        await alice.shows("Alice Liddell  down the rabbit hole")
        assert "(pending)" not in alice.text()
        # Bob was online before Alice opened the channel: the panel says so at once.
        await alice.shows("● Alice Liddell (owner)", "● Bob Marley")
        await bob.core.set_presence("away")
        await alice.shows("◐ Bob Marley")


async def test_the_channel_and_member_commands_against_the_server(
    world: World, tui: TuiFactory
) -> None:
    bob = await world.peer("bob", "Bob")
    carol = await world.peer("carol", "Carol")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create plans")
        await alice.shows("created #plans")
        await alice.command("/members add bob")
        await alice.shows("added bob to #plans as member")
        await bob.channel_named("plans")
        await alice.command("/members add carol admin")
        await alice.shows("added carol to #plans as admin")
        await alice.command("/members")
        await alice.shows("Members of #plans:", "Bob  (member", "Carol  (admin")
        await alice.command("/members remove carol")
        await alice.shows("removed carol from #plans; the channel key was rotated")
        await alice.command("/channel rename grand plans")
        await alice.shows("renamed #plans to #grand plans")
        await bob.channel_named("grand plans")
        await alice.command("/channel create second")
        await alice.command("/list")
        await alice.shows("#grand plans  (owner)", "* #second  (owner)")
        await alice.command("/j grand")
        assert alice.main.current == await bob.channel_named("grand plans")
        await alice.command("/channel delete second")
        await alice.shows("deleted #second")
        await alice.command("/channel delete nowhere")
        await alice.shows("/channel delete: no channel 'nowhere'")
        await alice.command("/members add nobody")
        await alice.shows("/members add: no user 'nobody'")
        await alice.command("/nick Alice L.")
        await alice.shows("your display name is now Alice L.")
        assert carol.core.channels == ()


async def test_verify_shows_the_safety_number_and_marks_the_user_verified(
    world: World, tui: TuiFactory
) -> None:
    bob = await world.peer("bob", "Bob")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create pair bob")
        await bob.channel_named("pair")
        await alice.command("/verify bob")
        await wait_until(alice.pilot, lambda: isinstance(alice.app.screen, VerifyScreen))
        expected = (await bob.core.verify_user("alice")).safety_number
        first_row = " ".join(expected.split()[:4])
        await alice.shows("Safety number", first_row, "first-seen")
        await alice.press("#confirm")
        await alice.shows("Bob is verified: their devices now get your keys")
        view = await alice.app.core.verify_user("bob")  # type: ignore[union-attr]
        assert all(d.trust.value == "verified" for d in view.devices)


async def test_invites_need_a_server_admin_and_login_unlocks_the_keystore(
    world: World, tui: TuiFactory
) -> None:
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/invite")
        await alice.shows("/invite: only server admins can create invites")
        user_id = alice.app.core.account.user_id  # type: ignore[union-attr]
        await alice.command("/quit")
        await wait_until(alice.pilot, lambda: not alice.app.is_running)
    await world.sql("UPDATE users SET is_admin = true WHERE id = $1", user_id)
    async with tui("alice") as alice:
        await alice.login("alice")
        await alice.command("/invite 2d for Dave")
        await alice.shows("invite (single use): ")
        line = next(x for x in alice.text().splitlines() if "invite (single use): " in x)
        token = line.split("invite (single use): ")[1].split()[0]
        dave = Peer("dave", ClientCore(options(world.url, world.tmp / "dave")))
        world.peers.append(dave)
        await dave.core.register(
            invite_token=token, username="dave", password=PASSWORD, passphrase=PASSPHRASE
        )


async def test_a_second_device_is_approved_and_revoked_from_the_tui(
    world: World, tui: TuiFactory
) -> None:
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create diary")
        laptop = Peer("alice-laptop", ClientCore(options(world.url, world.tmp / "laptop")))
        world.peers.append(laptop)
        account = await laptop.core.add_device(
            username="alice", password=PASSWORD, passphrase=PASSPHRASE
        )
        assert not account.approved
        await laptop.core.connect()
        short = account.device_id[:8]
        await alice.shows("a new device of yours is waiting", f"/devices approve {short}")
        await alice.command("/devices")
        await alice.shows("Your devices:", f"{short}  {account.fingerprint}  pending")
        await alice.command(f"/devices approve {short}")
        await alice.shows(f"approved device {short}; your keys were shared with it")
        await laptop.wait(Notice, lambda e: "approved" in e.text)
        await laptop.channel_named("diary")
        await alice.command(f"/devices revoke {short}")
        await alice.shows(f"revoked device {short}")
        # The revoked laptop is logged out: offline again, after having been online.
        await laptop.wait(Offline, lambda e: laptop.events.index(e) > 2)


async def test_a_mention_in_another_channel_rings_and_marks_it(
    world: World, tui: TuiFactory
) -> None:
    bob = await world.peer("bob", "Bob")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create work bob")
        await alice.command("/channel create home")
        work = await bob.channel_named("work")
        assert alice.main.current != work
        await bob.core.send_message(work, "no mention here")
        await alice.sidebar_shows("#work 1")
        assert alice.bells == []
        await bob.core.send_message(work, "@alice can you look?")
        await alice.sidebar_shows("#work @2")
        assert alice.bells == [1]
        await alice.command("/join work")
        await alice.shows("Bob  @alice can you look?")
        assert "@2" not in alice.text()


async def test_the_mouse_wheel_loads_older_pages_until_the_first_message(
    world: World, tui: TuiFactory
) -> None:
    bob = await world.peer("bob", "Bob")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create elsewhere")
        # Written before Alice joins: she gets them from history pages, not live.
        view = await bob.core.create_channel("history")
        for n in range(1, 121):
            last = await bob.core.send_message(view.channel_id, f"old message {n}")
        await bob.wait(MessageAcked, lambda e: e.client_msg_id == last.client_msg_id)
        await bob.core.add_member(view.channel_id, "alice")
        await alice.sidebar_shows("#history 120")
        await alice.command("/join history")
        await alice.shows("Bob  old message 120")
        timeline = alice.main.timelines[view.channel_id]
        assert timeline.oldest_seq == 71
        for _ in range(200):
            if "Bob  old message 1 " in alice.text():
                break
            await wheel(alice.pilot, alice.main.log_view, notches=3)
        await alice.shows("Bob  old message 1 ")
        assert [e.seq for e in timeline if e.seq is not None] == list(range(1, 121))
        assert not timeline.has_more


async def test_a_tampered_message_shows_as_such_in_its_place(world: World, tui: TuiFactory) -> None:
    bob = await world.peer("bob", "Bob")
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create evidence bob")
        channel_id = await bob.channel_named("evidence")
        await alice.command("/channel create other")
        for n in (1, 2, 3):
            await bob.core.send_message(channel_id, f"statement {n}")
        await alice.sidebar_shows("#evidence 3")
        await world.sql(
            "UPDATE messages SET signature = $2 WHERE channel_id = $1 AND seq = 2",
            channel_id,
            bytes(64),
        )
        alice.main.timelines.pop(channel_id)
        await alice.command("/join evidence")
        await alice.shows(
            "Bob  statement 1", "⚠ cannot read this message: tampered", "Bob  statement 3"
        )
        assert "statement 2" not in alice.text()


async def test_messages_written_offline_show_pending_and_go_out_on_reconnect(
    start_server: StartServer, http_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = free_port()
    server = await start_server(listen_port=port)
    admin_token = server.config.admin_token
    assert admin_token is not None
    token = await create_invite(ApiClient(http_session, server.base_url), admin_token)
    async with running_tui(server.base_url, tmp_path / "alice") as alice:
        await alice.register("alice", token, "Alice")
        await alice.command("/channel create notes")
        await alice.shows("created #notes")
        await server.stop()
        await alice.shows("reconnecting")
        await alice.command("written while offline")
        await alice.shows("written while offline  (pending)")
        await start_server(listen_port=port)
        await alice.shows("● online", within=30)
        await wait_until(
            alice.pilot, lambda: "(pending)" not in alice.text(), within=30, what="sent"
        )
        channel_id = alice.main.current
        assert channel_id is not None
        core = alice.app.core
        assert core is not None
        page = await core.load_history(channel_id)
        assert [getattr(i, "body", None) for i in page.items] == ["written while offline"]


async def test_messages_queued_offline_are_sent_after_the_tui_restarts(
    start_server: StartServer, http_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = free_port()
    server = await start_server(listen_port=port)
    admin_token = server.config.admin_token
    assert admin_token is not None
    token = await create_invite(ApiClient(http_session, server.base_url), admin_token)
    async with running_tui(server.base_url, tmp_path / "alice") as alice:
        await alice.register("alice", token, "Alice")
        await alice.command("/channel create notes")
        await alice.shows("created #notes")
        await server.stop()
        await alice.shows("reconnecting")
        await alice.command("written before a restart")
        await alice.shows("written before a restart  (pending)")
        await alice.command("/quit")
        await wait_until(alice.pilot, lambda: not alice.app.is_running)
    await start_server(listen_port=port)
    async with running_tui(server.base_url, tmp_path / "alice") as alice:
        await alice.login("alice")
        await alice.shows("1 message(s) written while offline are queued again")
        await wait_until(
            alice.pilot,
            lambda: (
                "Alice  written before a restart" in alice.text()
                and "(pending)" not in alice.text()
            ),
            within=30,
            what="sent",
        )
        core = alice.app.core
        assert core is not None
        channel_id = alice.main.current
        assert channel_id is not None
        page = await core.load_history(channel_id)
        assert [getattr(i, "body", None) for i in page.items] == ["written before a restart"]
        assert alice.text().count("written before a restart") == 1


async def test_the_connect_screen_checks_the_server_first(world: World, tui: TuiFactory) -> None:
    async with tui("alice") as alice:
        assert isinstance(alice.app.screen, ConnectScreen)
        await alice.fill("#server", world.url + "/chat")
        await alice.fill("#username", "alice")
        await alice.press("#register")
        await alice.shows("not a Dialtone server:", "give the server's address without a path")
        assert isinstance(alice.app.screen, ConnectScreen)
        await alice.fill("#server", f"http://127.0.0.1:{free_port()}")
        await alice.press("#register")
        await alice.shows("cannot reach the server: http://127.0.0.1:")
        assert isinstance(alice.app.screen, ConnectScreen)
        await alice.fill("#server", world.url)
        await alice.press("#register")
        await alice.on_screen(RegisterScreen)


async def test_voice_without_a_daemon_is_shown_not_fatal(world: World, tui: TuiFactory) -> None:
    async with tui("alice") as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.command("/channel create talk")
        await alice.command("/voice join")
        await alice.shows("/voice join: voice is unavailable: no voice daemon attached")
        await alice.command("/voice mute")
        await alice.shows("/voice mute: voice is unavailable: no voice daemon attached")
    missing = str(world.tmp / "no-such-voiced")
    async with tui("alice", voice_auto=True, voiced_command=missing) as alice:
        await alice.login("alice")
        await alice.shows("daemon: stopped: cannot", "the voice daemon stopped (cannot run")
        await alice.command("still chatting")
        await alice.shows("Alice  still chatting")
    crashing = f"{sys.executable} -c \"import sys; print('no audio device'); sys.exit(4)\""
    async with tui("alice", voice_auto=True, voiced_command=crashing) as alice:
        await alice.login("alice")
        await alice.shows("exited with status 4: no audio device")


async def test_a_voice_join_the_real_daemon_cannot_open_leaves_no_room_shown(
    world: World, tui: TuiFactory
) -> None:
    # The real daemon, told to use a microphone that does not exist: it starts, but cannot open
    # the room.
    voiced = f"{sys.executable} -m dialtone.voiced --input-device no-such-microphone"
    async with tui("alice", voice_auto=True, voiced_command=voiced) as alice:
        await alice.register("alice", await world.invite(), "Alice")
        await alice.shows("daemon: ready", within=40)
        await alice.command("/channel create talk")
        await alice.command("/voice join")
        await alice.shows("/voice join: could not join the voice room:", within=40)
        assert "joined the voice room" not in alice.text()
        assert alice.main.voice_channel is None
        assert "voice: -" in alice.text().splitlines()[0]
        await alice.shows("not in a voice room")
        # Chat goes on, and so does the daemon.
        await alice.command("still here")
        await alice.shows("Alice  still here", "daemon: ready")
