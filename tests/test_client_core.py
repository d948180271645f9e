"""The client core against a real server and PostgreSQL: two users and their devices exchanging
messages each sees decrypted, history paging, tampering (in the database or by a proxy) shown as
such, reconnect with resume, the offline queue (also across a restart of the client), idempotent
resends, the presence of members already online when a channel is opened, and the server's
health check.

Then a user's new device and its approval, key rotation when a member or device is removed,
messages that cannot be read yet or whose sender is not verified, a loud warning when known device
keys change, and WebRTC signaling relayed between two cores through the server (and refused when
rewritten on the way); a voice join that fails leaves the client in no room, and TURN credentials
are renewed during a call before they expire and after a reconnect.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import asyncpg
import attrs
import pytest
from aiohttp import web

from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.errors import (
    NotDialtoneServerError,
    ServerUnreachableError,
    VoiceJoinError,
)
from dialtone.client.core.events import (
    ChannelsChanged,
    ClientEvent,
    Connected,
    DecryptedMessage,
    DeviceKeyChanged,
    DeviceTrust,
    Error,
    FailedMessage,
    FailureReason,
    KeyRotated,
    MessageAcked,
    MessageFailed,
    MessageQueued,
    MessageReceived,
    NewDeviceNeedsApproval,
    Notice,
    Offline,
    Presence,
    ProfileChanged,
    Reconnecting,
    SignalingRefused,
    Synced,
    VoiceDaemonState,
    VoiceRoster,
    VoiceState,
)
from dialtone.client.core.outbox_store import outbox_path
from dialtone.crypto import DeviceIdentity
from dialtone.keystore import ScryptParams
from dialtone.server.testing import (
    ApiClient,
    PostgresCluster,
    RunningServer,
    StartServer,
    create_invite,
    free_port,
)
from dialtone.wire import Codec, ipc
from dialtone.wire.common import IceServer

T = TypeVar("T")
CHEAP: Final = ScryptParams(log2_n=4, r=1, p=1)
PASSWORD: Final = "correct horse battery"
PASSPHRASE: Final = "keystore passphrase"
WAIT: Final = 15.0

pytestmark = pytest.mark.slow


# --- harness -------------------------------------------------------------------------------------


class Recorder:
    """Every event one core emitted, and a way to wait for the next one that matches."""

    def __init__(self, core: ClientCore) -> None:
        self.events: list[ClientEvent] = []
        self._changed = asyncio.Event()
        core.subscribe(self._record)

    def _record(self, event: ClientEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def mark(self) -> int:
        """A position to wait from."""
        return len(self.events)

    def of(self, cls: type[T], *, since: int = 0) -> list[T]:
        """The events of a type seen so far."""
        return [e for e in self.events[since:] if isinstance(e, cls)]

    async def wait(
        self,
        cls: type[T],
        where: Callable[[T], bool] = lambda _e: True,
        *,
        since: int = 0,
        within: float = WAIT,
    ) -> T:
        """The first event of type `cls` after `since` that satisfies `where`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for event in self.events[since:]:
                if isinstance(event, cls) and where(event):
                    return event
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [type(e).__name__ for e in self.events[since:]]
                raise AssertionError(f"no {cls.__name__} within {within} s; saw {seen}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue


@attrs.define
class Client:
    """A user's device: its core and what it emitted."""

    name: str
    core: ClientCore
    seen: Recorder

    @property
    def user_id(self) -> str:
        account = self.core.account
        assert account is not None
        return account.user_id

    @property
    def device_id(self) -> str:
        account = self.core.account
        assert account is not None
        return account.device_id

    async def received(self, body: str, *, since: int = 0) -> DecryptedMessage:
        event = await self.seen.wait(MessageReceived, lambda e: e.message.body == body, since=since)
        return event.message


@attrs.define
class Harness:
    """A server and the cores that talk to it."""

    server: RunningServer
    api: ApiClient
    tmp: Path
    clients: list[Client] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url

    def options(self, folder: str, url: str | None = None) -> ClientOptions:
        return ClientOptions(
            server_url=url or self.url,
            data_dir=self.tmp / folder,
            keystore_params=CHEAP,
            reconnect_initial_delay=0.05,
            reconnect_max_delay=0.5,
            approval_poll_interval=0.1,
            request_timeout=10.0,
        )

    def core(self, name: str, folder: str | None = None, url: str | None = None) -> Client:
        core = ClientCore(self.options(folder or name, url))
        client = Client(name, core, Recorder(core))
        self.clients.append(client)
        return client

    async def user(
        self, name: str, *, url: str | None = None, display_name: str | None = None
    ) -> Client:
        """Register a new user with a display name, connected and synced."""
        client = self.core(name, url=url)
        admin_token = self.server.config.admin_token
        assert admin_token is not None
        invite = await create_invite(self.api, admin_token)
        await client.core.register(
            invite_token=invite,
            username=name,
            password=PASSWORD,
            passphrase=PASSPHRASE,
            display_name=display_name or name.capitalize(),
        )
        await client.core.connect()
        await client.seen.wait(Synced)
        return client

    async def channel(self, owner: Client, name: str, *members: Client) -> str:
        """A channel of `owner` with `members`, once every member can read its name."""
        view = await owner.core.create_channel(name, [m.name for m in members])
        for member in members:
            await member.seen.wait(
                ChannelsChanged,
                lambda e: any(
                    c.channel_id == view.channel_id and c.name == name for c in e.channels
                ),
            )
        return view.channel_id

    async def close(self) -> None:
        for client in self.clients:
            await client.core.close()


@pytest.fixture
async def harness(server: RunningServer, api: ApiClient, tmp_path: Path) -> AsyncIterator[Harness]:
    rig = Harness(server, api, tmp_path)
    try:
        yield rig
    finally:
        await rig.close()


async def db_execute(db_url: str, sql: str, *args: Any) -> str:
    connection = await asyncpg.connect(db_url)
    try:
        result: str = await connection.execute(sql, *args)
        return result
    finally:
        await connection.close()


async def acked(client: Client, client_msg_id: str, *, since: int = 0) -> MessageAcked:
    return await client.seen.wait(
        MessageAcked, lambda e: e.client_msg_id == client_msg_id, since=since
    )


# --- a WebSocket + HTTP proxy that can alter what the server says --------------------------------

CUT: Final = object()
"""Returned by a proxy filter: close the client's connection instead of forwarding the frame."""

FrameFilter = Callable[[str], "str | object | None"]


class Proxy:
    """A reverse proxy on 127.0.0.1 in front of the server. `on_server_frame` sees each
    server-to-client WebSocket frame and returns it (perhaps changed), None to drop it, or `CUT`
    to close the client's connection."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.on_server_frame: FrameFilter = lambda frame: frame
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> str:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        # Close the proxied WebSockets first: the runner would wait for their handlers.
        for task in list(self._pumps):
            task.cancel()
        if self._pumps:
            await asyncio.wait(self._pumps)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _headers(self, request: web.Request) -> dict[str, str]:
        return {
            name: request.headers[name]
            for name in ("Authorization", "Content-Type")
            if name in request.headers
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        if request.path == "/v1/ws":
            return await self._websocket(request)
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body or None,
            headers=self._headers(request),
        ) as answer:
            data = await answer.read()
            headers = {}
            if "Content-Type" in answer.headers:
                headers["Content-Type"] = answer.headers["Content-Type"]
            return web.Response(status=answer.status, body=data, headers=headers)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        try:
            upstream = await self._session.ws_connect(
                self.upstream.replace("http://", "ws://") + "/v1/ws",
                headers=self._headers(request),
            )
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status)
        client = web.WebSocketResponse()
        await client.prepare(request)

        async def to_server() -> None:
            async for message in client:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(message.data)

        async def to_client() -> None:
            async for message in upstream:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                out = self.on_server_frame(message.data)
                if out is CUT:
                    return
                if isinstance(out, str):
                    await client.send_str(out)

        tasks = {asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())}
        self._pumps.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
                self._pumps.discard(task)
            await upstream.close()
            await client.close()
        return client


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[Proxy]:
    front = Proxy(server.base_url)
    await front.start()
    try:
        yield front
    finally:
        await front.stop()


# --- tests ---------------------------------------------------------------------------------------


async def test_two_users_exchange_messages_that_each_sees_decrypted(
    harness: Harness, pg_cluster: PostgresCluster, db_name: str
) -> None:
    alice = await harness.user("alice", display_name="Alice Liddell")
    bob = await harness.user("bob", display_name="Bob Marley")
    channel_id = await harness.channel(alice, "rabbit-hole", bob)

    sent = await alice.core.send_message(channel_id, "down the rabbit hole 🐇")
    assert sent.pending
    assert (await acked(alice, sent.client_msg_id)).seq == 1
    got = await bob.received("down the rabbit hole 🐇")
    assert (got.seq, got.sender_user_id, got.sender_name, got.own) == (
        1,
        alice.user_id,
        "Alice Liddell",
        False,
    )

    reply = await bob.core.send_message(channel_id, "mind the hatter")
    back = await alice.received("mind the hatter")
    assert back.client_msg_id == reply.client_msg_id
    assert back.seq == 2

    # Display names travel sealed with each user's directory key.
    await bob.seen.wait(ProfileChanged, lambda e: e.display_name == "Alice Liddell")
    assert bob.core.display_name(alice.user_id) == "Alice Liddell"
    assert alice.core.display_name(bob.user_id) == "Bob Marley"
    assert {m.display_name for m in await alice.core.members(channel_id)} == {
        "Alice Liddell",
        "Bob Marley",
    }

    # The server holds none of it in the clear.
    dump = pg_cluster.pg_dump(db_name)
    for plaintext in ("rabbit hole", "rabbit-hole", "hatter", "Liddell", "Marley"):
        assert plaintext not in dump


async def test_history_pages_back_to_the_first_message(harness: Harness) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "long", bob)
    last = None
    for n in range(1, 121):
        last = await alice.core.send_message(channel_id, f"message {n}")
    assert last is not None
    await acked(alice, last.client_msg_id)

    newest = await bob.core.open_channel(channel_id)
    assert [item.seq for item in newest.items] == list(range(71, 121))
    assert newest.has_more
    assert all(isinstance(item, DecryptedMessage) for item in newest.items)
    assert newest.items[-1].body == "message 120"  # type: ignore[union-attr]
    middle = await bob.core.load_history(channel_id, before=newest.oldest_seq)
    assert [item.seq for item in middle.items] == list(range(21, 71))
    oldest = await bob.core.load_history(channel_id, before=middle.oldest_seq)
    assert [item.seq for item in oldest.items] == list(range(1, 21))
    assert not oldest.has_more
    assert [item.body for item in oldest.items[:2]] == ["message 1", "message 2"]  # type: ignore[union-attr]


async def test_a_message_altered_in_the_database_shows_as_tampered_in_place(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "evidence", bob)
    for n in (1, 2, 3, 4):
        last = await alice.core.send_message(channel_id, f"statement {n}")
    await acked(alice, last.client_msg_id)

    # Flip one bit of message 2's body; replace message 3's signature.
    await db_execute(
        db_url,
        "UPDATE messages SET sealed_body = overlay(sealed_body placing "
        "set_byte(substring(sealed_body from 20 for 1), 0, get_byte(sealed_body, 19) # 1) "
        "from 20 for 1) WHERE channel_id = $1 AND seq = 2",
        channel_id,
    )
    await db_execute(
        db_url,
        "UPDATE messages SET signature = $2 WHERE channel_id = $1 AND seq = 3",
        channel_id,
        bytes(64),
    )

    page = await bob.core.open_channel(channel_id)
    assert [item.seq for item in page.items] == [1, 2, 3, 4]
    first, second, third, fourth = page.items
    assert isinstance(first, DecryptedMessage)
    assert first.body == "statement 1"
    assert isinstance(second, FailedMessage)
    assert second.reason is FailureReason.TAMPERED
    assert isinstance(third, FailedMessage)
    assert third.reason is FailureReason.TAMPERED
    assert isinstance(fourth, DecryptedMessage)
    assert fourth.body == "statement 4"


async def test_a_message_altered_by_a_proxy_shows_as_tampered_live(
    harness: Harness, proxy: Proxy
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob", url=proxy.url)
    channel_id = await harness.channel(alice, "wiretap", bob)

    def flip_body(frame: str) -> str:
        event = json.loads(frame)
        if event.get("type") == "channel.message.new":
            body = event["message"]["sealed_body"]
            event["message"]["sealed_body"] = (
                body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
            )
        return json.dumps(event)

    proxy.on_server_frame = flip_body
    since = bob.seen.mark()
    await alice.core.send_message(channel_id, "pay 10 to carol")
    failed = await bob.seen.wait(MessageFailed, since=since)
    assert failed.reason is FailureReason.TAMPERED
    assert failed.message.seq == 1
    assert not bob.seen.of(MessageReceived, since=since)

    proxy.on_server_frame = lambda frame: frame
    await alice.core.send_message(channel_id, "never mind")
    assert (await bob.received("never mind", since=since)).seq == 2


async def test_a_reconnecting_client_resumes_from_its_last_sequence_numbers(
    harness: Harness,
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "resume", bob)
    first = await alice.core.send_message(channel_id, "before")
    await bob.received("before")

    await bob.core.disconnect()
    for n in (1, 2, 3):
        last = await alice.core.send_message(channel_id, f"missed {n}")
    await acked(alice, last.client_msg_id)

    since = bob.seen.mark()
    await bob.core.connect()
    synced = await bob.seen.wait(Synced, since=since)
    assert synced.replayed == 3
    replayed = [e.message for e in bob.seen.of(MessageReceived, since=since)]
    assert [(m.seq, m.body) for m in replayed] == [
        (2, "missed 1"),
        (3, "missed 2"),
        (4, "missed 3"),
    ]
    assert first.client_msg_id not in {m.client_msg_id for m in replayed}


async def test_messages_written_offline_are_queued_then_sent_once_on_reconnect(
    harness: Harness, start_server: StartServer
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "outage", bob)
    port = int(harness.url.rsplit(":", 1)[1])

    alice_since, bob_since = alice.seen.mark(), bob.seen.mark()
    await harness.server.stop()
    await alice.seen.wait(Reconnecting, since=alice_since)
    await bob.seen.wait(Reconnecting, since=bob_since)
    queued = [await alice.core.send_message(channel_id, f"offline {n}") for n in (1, 2)]
    assert [m.pending for m in queued] == [True, True]
    assert [e.message.body for e in alice.seen.of(MessageQueued, since=alice_since)] == [
        "offline 1",
        "offline 2",
    ]
    assert [m.body for m in alice.core.pending_messages(channel_id)] == ["offline 1", "offline 2"]

    await start_server(listen_port=port)
    await alice.seen.wait(Connected, since=alice_since)
    acks = [await acked(alice, m.client_msg_id, since=alice_since) for m in queued]
    assert [a.seq for a in acks] == [1, 2]
    assert alice.core.pending_messages(channel_id) == ()
    assert (await bob.received("offline 1", since=bob_since)).seq == 1
    assert (await bob.received("offline 2", since=bob_since)).seq == 2
    page = await bob.core.open_channel(channel_id)
    assert [item.body for item in page.items] == ["offline 1", "offline 2"]  # type: ignore[union-attr]


async def test_messages_queued_offline_survive_a_restart_of_the_client(
    harness: Harness, start_server: StartServer
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "outage", bob)
    port = int(harness.url.rsplit(":", 1)[1])
    queue_file = outbox_path(alice.core.profile_path("alice"))

    since = alice.seen.mark()
    await harness.server.stop()
    await alice.seen.wait(Reconnecting, since=since)
    queued = [await alice.core.send_message(channel_id, f"kept {n}") for n in (1, 2)]
    await alice.core.close()
    assert queue_file.exists()
    assert b"kept" not in queue_file.read_bytes()

    await start_server(listen_port=port)
    again = harness.core("alice")
    await again.core.login(username="alice", password=PASSWORD, passphrase=PASSPHRASE)
    restored = again.seen.of(MessageQueued)
    assert [(e.message.client_msg_id, e.message.body) for e in restored] == [
        (m.client_msg_id, m.body) for m in queued
    ]
    assert all(e.message.pending for e in restored)
    assert [m.body for m in again.core.pending_messages(channel_id)] == ["kept 1", "kept 2"]
    assert any("queued again" in e.text for e in again.seen.of(Notice))

    bob_since = bob.seen.mark()
    await again.core.connect()
    acks = [await acked(again, m.client_msg_id) for m in queued]
    assert [a.seq for a in acks] == [1, 2]
    assert again.core.pending_messages(channel_id) == ()
    assert (await bob.received("kept 1", since=bob_since)).seq == 1
    assert (await bob.received("kept 2", since=bob_since)).seq == 2
    page = await bob.core.open_channel(channel_id)
    assert [item.body for item in page.items] == ["kept 1", "kept 2"]  # type: ignore[union-attr]
    await again.core.close()
    assert not queue_file.exists()


async def test_members_already_online_show_online_when_a_channel_is_opened(
    harness: Harness,
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    carol = await harness.user("carol")
    channel_id = await harness.channel(alice, "lobby", bob, carol)
    carol_id = carol.user_id
    await carol.core.close()
    await alice.core.close()

    # Bob stays online. A new session of Alice hears no presence change of his: she learns it
    # when she opens the channel.
    again = harness.core("alice")
    await again.core.login(username="alice", password=PASSWORD, passphrase=PASSPHRASE)
    await again.core.connect()
    await again.seen.wait(Synced)
    assert not [e for e in again.seen.of(Presence) if e.user_id == bob.user_id]
    assert again.core.presence(bob.user_id) == "offline"

    await again.core.open_channel(channel_id)
    seen = {e.user_id: e.status for e in again.seen.of(Presence)}
    assert seen[bob.user_id] == "online"
    assert seen[carol_id] == "offline"
    members = {m.user_id: m.presence for m in await again.core.members(channel_id)}
    assert members == {
        again.user_id: "online",
        bob.user_id: "online",
        carol_id: "offline",
    }

    # From then on, changes come as events.
    since = again.seen.mark()
    await bob.core.set_presence("away")
    await again.seen.wait(
        Presence, lambda e: (e.user_id, e.status) == (bob.user_id, "away"), since=since
    )
    assert again.core.presence(bob.user_id) == "away"


async def test_the_health_check_tells_a_dialtone_server_from_a_wrong_url(
    harness: Harness, tmp_path: Path
) -> None:
    info = await harness.core("probe").core.check_server()
    assert info.protocol_version == 1
    assert info.server_version
    with pytest.raises(NotDialtoneServerError, match="without a path"):
        await harness.core("probe2", url=harness.url + "/chat").core.check_server()
    with pytest.raises(ServerUnreachableError):
        await harness.core("probe3", url=f"http://127.0.0.1:{free_port()}").core.check_server()


async def test_a_lost_ack_is_recovered_by_resending_the_same_message_id(
    harness: Harness, proxy: Proxy
) -> None:
    alice = await harness.user("alice", url=proxy.url)
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "flaky", bob)
    dropped: list[str] = []

    def lose_first_ack(frame: str) -> str | object:
        if not dropped and json.loads(frame).get("type") == "channel.message.ack":
            dropped.append(frame)
            return CUT
        return frame

    proxy.on_server_frame = lose_first_ack
    since = alice.seen.mark()
    message = await alice.core.send_message(channel_id, "exactly once")
    await alice.seen.wait(Reconnecting, since=since)
    ack = await acked(alice, message.client_msg_id, since=since)
    assert dropped
    assert ack.seq == 1
    assert len(alice.seen.of(MessageAcked, since=since)) == 1
    await bob.received("exactly once")
    page = await bob.core.open_channel(channel_id)
    assert [item.body for item in page.items] == ["exactly once"]  # type: ignore[union-attr]


async def test_a_closed_core_emits_offline_and_ends_its_event_streams(harness: Harness) -> None:
    alice = await harness.user("alice")
    stream = alice.core.events()
    await alice.core.close()
    remaining = [event async for event in stream]
    assert any(isinstance(e, Offline) for e in remaining) or any(
        isinstance(e, Offline) for e in alice.seen.events
    )


# --- devices, trust and key rotation -------------------------------------------------------------


async def envelope_recipients(db_url: str, channel_id: str, epoch: int) -> set[str]:
    connection = await asyncpg.connect(db_url)
    try:
        rows = await connection.fetch(
            "SELECT recipient_device_id::text AS device FROM channel_key_envelopes "
            "WHERE channel_id = $1 AND key_epoch = $2",
            channel_id,
            epoch,
        )
    finally:
        await connection.close()
    return {row["device"] for row in rows}


async def second_device(harness: Harness, of: Client, approver: Client | None = None) -> Client:
    """Add a device to `of`'s account; approved by `approver` when given."""
    phone = harness.core(of.name, folder=f"{of.name}-phone")
    account = await phone.core.add_device(
        username=of.name, password=PASSWORD, passphrase=PASSPHRASE
    )
    assert not account.approved
    await phone.core.connect()
    if approver is not None:
        await approver.core.approve_device(phone.device_id)
        await phone.seen.wait(Synced)
    return phone


async def test_a_new_device_gets_keys_only_once_another_of_the_users_devices_approves_it(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "family", bob)
    await alice.core.send_message(channel_id, "before the new phone")
    await bob.received("before the new phone")

    phone = await second_device(harness, alice)
    waiting = await phone.seen.wait(Offline)
    assert "approve" in waiting.reason
    assert phone.core.channels == ()
    connection = await asyncpg.connect(db_url)
    try:
        held = await connection.fetchval(
            "SELECT count(*) FROM channel_key_envelopes WHERE recipient_device_id = $1",
            phone.device_id,
        )
    finally:
        await connection.close()
    assert held == 0

    since = alice.seen.mark()
    mine = await alice.core.devices()
    pending = [d for d in mine if d.device_id == phone.device_id]
    assert [d.trust for d in pending] == [DeviceTrust.PENDING]
    asked = await alice.seen.wait(NewDeviceNeedsApproval, since=since)
    assert phone.core.account is not None
    assert asked.device.fingerprint == phone.core.account.fingerprint

    await alice.core.approve_device(phone.device_id)
    await phone.seen.wait(Synced)
    await phone.seen.wait(
        ChannelsChanged,
        lambda e: [(c.name, c.has_key) for c in e.channels] == [("family", True)],
    )
    history = await phone.core.open_channel(channel_id)
    assert [item.body for item in history.items] == ["before the new phone"]  # type: ignore[union-attr]

    since = phone.seen.mark()
    await bob.core.send_message(channel_id, "hi to both of you")
    await phone.received("hi to both of you", since=since)
    since = bob.seen.mark()
    await phone.core.send_message(channel_id, "sent from the phone")
    got = await bob.received("sent from the phone", since=since)
    assert got.sender_device_id == phone.device_id
    assert got.sender_trust is DeviceTrust.FIRST_SEEN
    seen_by_bob = await bob.core.verify_user("alice")
    assert {d.device_id: d.trust for d in seen_by_bob.devices} == {
        alice.device_id: DeviceTrust.FIRST_SEEN,
        phone.device_id: DeviceTrust.FIRST_SEEN,
    }


async def test_removing_a_member_rotates_the_key_shared_with_the_rest(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    carol = await harness.user("carol")
    channel_id = await harness.channel(alice, "club", bob, carol)
    bob_since, carol_since = bob.seen.mark(), carol.seen.mark()

    await alice.core.remove_member(channel_id, "carol")
    rotated = await alice.seen.wait(KeyRotated, lambda e: e.by_us)
    assert (rotated.channel_id, rotated.epoch) == (channel_id, 2)
    told = await bob.seen.wait(KeyRotated, since=bob_since)
    assert (told.epoch, told.has_key, told.by_us) == (2, True, False)
    await carol.seen.wait(ChannelsChanged, lambda e: e.channels == (), since=carol_since)
    assert await envelope_recipients(db_url, channel_id, 2) == {alice.device_id, bob.device_id}

    await bob.core.send_message(channel_id, "carol is gone")
    got = await alice.received("carol is gone")
    assert got.epoch == 2
    assert alice.core.channel(channel_id).epoch == 2


async def test_revoking_a_device_rotates_every_channel_and_cuts_it_off(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "lost phone", bob)
    phone = await second_device(harness, alice, approver=alice)
    assert phone.device_id in await envelope_recipients(db_url, channel_id, 1)

    since = phone.seen.mark()
    await alice.core.revoke_device(phone.device_id)
    offline = await phone.seen.wait(Offline, since=since)
    assert "revoked" in offline.reason
    assert await envelope_recipients(db_url, channel_id, 2) == {alice.device_id, bob.device_id}
    mine = {d.device_id: d.trust for d in await alice.core.devices()}
    assert mine[phone.device_id] is DeviceTrust.REVOKED
    await alice.core.send_message(channel_id, "new key, new phone")
    assert (await bob.received("new key, new phone")).epoch == 2


async def test_a_message_from_before_a_member_joined_shows_no_key_yet(harness: Harness) -> None:
    alice = await harness.user("alice")
    carol = await harness.user("carol")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "history", carol)
    first = await alice.core.send_message(channel_id, "said before bob came")
    await acked(alice, first.client_msg_id)
    await alice.core.remove_member(channel_id, "carol")
    await alice.core.add_member(channel_id, "bob")
    await bob.seen.wait(
        ChannelsChanged, lambda e: any(c.name == "history" and c.has_key for c in e.channels)
    )
    later = await alice.core.send_message(channel_id, "said after bob came")
    await acked(alice, later.client_msg_id)

    page = await bob.core.open_channel(channel_id)
    before, after = page.items
    assert isinstance(before, FailedMessage)
    assert before.reason is FailureReason.NO_KEY_YET
    assert before.seq == 1
    assert isinstance(after, DecryptedMessage)
    assert after.body == "said after bob came"


async def test_a_device_the_server_vouches_for_without_approval_is_an_unverified_sender(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "trust", bob)
    await bob.core.disconnect()
    phone = await second_device(harness, alice, approver=alice)
    # The server drops the approval that would let others check the new device.
    await db_execute(
        db_url,
        "UPDATE devices SET approved_by = NULL, approval_signature = NULL WHERE id = $1",
        phone.device_id,
    )
    sent = await phone.core.send_message(channel_id, "is it really me?")
    await acked(phone, sent.client_msg_id)

    since = bob.seen.mark()
    await bob.core.connect()
    failed = await bob.seen.wait(MessageFailed, since=since)
    assert failed.reason is FailureReason.UNVERIFIED_SENDER
    assert failed.message.sender_device_id == phone.device_id
    view = await bob.core.verify_user("alice")
    assert {d.device_id: d.trust for d in view.devices}[phone.device_id] is DeviceTrust.UNTRUSTED

    # Alice and Bob compare safety numbers in person; Bob marks her devices verified.
    alice_view = await alice.core.verify_user(bob.user_id)
    assert alice_view.safety_number == view.safety_number
    await bob.core.mark_verified("alice")
    page = await bob.core.open_channel(channel_id)
    shown = page.items[-1]
    assert isinstance(shown, DecryptedMessage)
    assert shown.body == "is it really me?"
    assert shown.sender_trust is DeviceTrust.VERIFIED


async def test_changed_device_keys_raise_a_loud_warning_and_get_no_new_keys(
    harness: Harness, db_url: str
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "mitm", bob)
    impostor = DeviceIdentity.generate().public_bundle
    # Marked before the change: Bob may see it on his own (still handling the channel's
    # creation) before he is asked to verify Alice.
    since = bob.seen.mark()
    await db_execute(
        db_url,
        "UPDATE devices SET x25519_public = $2, ed25519_public = $3, key_signature = $4 "
        "WHERE id = $1",
        alice.device_id,
        impostor.x25519_public,
        impostor.ed25519_public,
        impostor.signature,
    )
    view = await bob.core.verify_user("alice")
    warning = await bob.seen.wait(DeviceKeyChanged, since=since)
    assert warning.device_id == alice.device_id
    assert warning.new_fingerprint == impostor.fingerprint
    assert alice.core.account is not None
    assert warning.old_fingerprint == alice.core.account.fingerprint
    assert {d.device_id: d.trust for d in view.devices}[alice.device_id] is DeviceTrust.CHANGED

    # Bob rotates: the device with changed keys gets nothing.
    assert await bob.core.rotate_key(channel_id) == 2
    assert await envelope_recipients(db_url, channel_id, 2) == {bob.device_id}


# --- voice signaling through the server ----------------------------------------------------------

SDP: Final = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
)


class Daemon:
    """An in-test dialtone-voiced: a real Unix socket speaking the real IPC types."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.codec = Codec()
        self.commands: asyncio.Queue[ipc.IpcCommand] = asyncio.Queue()
        self.join_error: ipc.DaemonError | None = None
        """What a ``voice.join`` gets instead of ``voice.connected``, if set."""
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, str(self.path))

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        while line := await reader.readline():
            command = self.codec.decode_ipc_command(line)
            if isinstance(command, ipc.Identify):
                await self.send(
                    ipc.DaemonReady(
                        protocol_version=1,
                        daemon="test-voiced",
                        ptt_backend="vad",
                        ptt_reason="test",
                        vad=True,
                    )
                )
            elif isinstance(command, ipc.VoiceJoinCommand):
                await self.send(
                    self.join_error or ipc.VoiceConnected(channel_id=command.channel_id)
                )
            await self.commands.put(command)

    async def send(self, event: ipc.IpcEvent) -> None:
        assert self._writer is not None
        self._writer.write(self.codec.encode_ipc(event))
        await self._writer.drain()

    async def next(self, cls: type[T], within: float = WAIT) -> T:
        while True:
            command = await asyncio.wait_for(self.commands.get(), within)
            if isinstance(command, cls):
                return command


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dtc", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def in_voice(client: Client, channel_id: str, folder: Path) -> Daemon:
    daemon = Daemon(folder / f"{client.name}.sock")
    await daemon.start()
    await client.core.attach_voice(daemon.path)
    await client.seen.wait(VoiceDaemonState, lambda e: e.available)
    await client.core.voice_join(channel_id)
    config = await daemon.next(ipc.IceConfig)
    assert any(server.username for server in config.ice_servers)  # TURN credentials
    await daemon.next(ipc.VoiceJoinCommand)
    return daemon


async def alone_in_voice(client: Client, channel_id: str, folder: Path) -> Daemon:
    """Join a voice room and wait for the roster that lists this client alone (nobody else was
    left in it)."""
    daemon = await in_voice(client, channel_id, folder)
    await client.seen.wait(
        VoiceRoster,
        lambda e: e.channel_id == channel_id and [m.user_id for m in e.members] == [client.user_id],
    )
    return daemon


async def test_offers_and_answers_are_signed_relayed_and_verified_end_to_end(
    harness: Harness, socket_dir: Path
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "voice", bob)
    alice_daemon = await in_voice(alice, channel_id, socket_dir)
    bob_daemon = await in_voice(bob, channel_id, socket_dir)
    roster = await alice_daemon.next(ipc.VoiceRosterCommand)
    while len(roster.participants) < 2:
        roster = await alice_daemon.next(ipc.VoiceRosterCommand)
    try:
        await alice_daemon.send(
            ipc.PeerOffer(
                channel_id=channel_id,
                call_id="call-1",
                peer_user_id=bob.user_id,
                peer_device_id=bob.device_id,
                sdp=SDP,
            )
        )
        offer = await bob_daemon.next(ipc.PeerOffer)
        assert (offer.peer_device_id, offer.sdp, offer.call_id) == (alice.device_id, SDP, "call-1")
        answer_sdp = SDP.replace("AA:BB", "12:34", 1)
        await bob_daemon.send(
            ipc.PeerAnswer(
                channel_id=channel_id,
                call_id="call-1",
                peer_user_id=alice.user_id,
                peer_device_id=alice.device_id,
                sdp=answer_sdp,
            )
        )
        answer = await alice_daemon.next(ipc.PeerAnswer)
        assert (answer.peer_device_id, answer.sdp) == (bob.device_id, answer_sdp)
        await bob_daemon.send(
            ipc.PeerIce(
                channel_id=channel_id,
                call_id="call-1",
                peer_user_id=alice.user_id,
                peer_device_id=alice.device_id,
                candidate="candidate:1 1 udp 1 127.0.0.1 40000 typ host",
                sdp_mid="0",
                sdp_mline_index=0,
            )
        )
        assert (await alice_daemon.next(ipc.PeerIce)).peer_device_id == bob.device_id
        assert not alice.seen.of(SignalingRefused)
        assert not bob.seen.of(SignalingRefused)
    finally:
        await alice_daemon.stop()
        await bob_daemon.stop()


async def test_an_offer_rewritten_on_the_way_is_refused(
    harness: Harness, proxy: Proxy, socket_dir: Path
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob", url=proxy.url)
    channel_id = await harness.channel(alice, "voice", bob)

    def swap_fingerprint(frame: str) -> str:
        event = json.loads(frame)
        if event.get("type") == "webrtc.offer":
            event["sdp"] = event["sdp"].replace("AA:BB:CC", "66:66:66", 1)
        return json.dumps(event)

    proxy.on_server_frame = swap_fingerprint
    alice_daemon = await in_voice(alice, channel_id, socket_dir)
    bob_daemon = await in_voice(bob, channel_id, socket_dir)
    try:
        since = bob.seen.mark()
        await alice_daemon.send(
            ipc.PeerOffer(
                channel_id=channel_id,
                call_id="call-2",
                peer_user_id=bob.user_id,
                peer_device_id=bob.device_id,
                sdp=SDP,
            )
        )
        refused = await bob.seen.wait(SignalingRefused, since=since)
        assert (refused.kind, refused.from_device_id) == ("offer", alice.device_id)
        assert "does not verify" in refused.reason
        with pytest.raises(TimeoutError):
            await bob_daemon.next(ipc.PeerOffer, within=1.0)
    finally:
        await alice_daemon.stop()
        await bob_daemon.stop()


async def test_a_message_refused_for_rate_limiting_is_sent_again_and_stored_once(
    harness: Harness, proxy: Proxy
) -> None:
    alice = await harness.user("alice", url=proxy.url)
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "busy", bob)
    refused: list[str] = []

    def refuse_first_ack(frame: str) -> str | None:
        if not refused and json.loads(frame).get("type") == "channel.message.ack":
            refused.append(frame)
            # The server stored it, but the client hears only a rate-limit error without a ref.
            return json.dumps({"type": "error", "code": "rate_limited", "message": "slow down"})
        return frame

    proxy.on_server_frame = refuse_first_ack
    since = alice.seen.mark()
    message = await alice.core.send_message(channel_id, "again, calmly")
    ack = await acked(alice, message.client_msg_id, since=since)
    assert refused
    assert ack.seq == 1
    assert not alice.seen.of(Reconnecting, since=since)
    page = await bob.core.open_channel(channel_id)
    assert [item.body for item in page.items] == ["again, calmly"]  # type: ignore[union-attr]


async def test_a_voice_join_the_daemon_cannot_open_leaves_the_client_in_no_room(
    harness: Harness, socket_dir: Path
) -> None:
    alice = await harness.user("alice")
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "voice", bob)
    daemon = Daemon(socket_dir / "alice.sock")
    await daemon.start()
    bob_daemon = None
    try:
        daemon.join_error = ipc.DaemonError(
            code=ipc.IpcErrorCode.NO_AUDIO_DEVICE,
            message="no input audio device (default): PortAudio lists none",
        )
        await alice.core.attach_voice(daemon.path)
        await alice.seen.wait(VoiceDaemonState, lambda e: e.available)
        since = alice.seen.mark()
        with pytest.raises(VoiceJoinError, match="no input audio device"):
            await alice.core.voice_join(channel_id)
        assert alice.seen.of(VoiceState, since=since)[-1].channel_id is None
        assert (await daemon.next(ipc.VoiceLeaveCommand)).channel_id == channel_id

        # The server never listed Alice in the room: Bob finds it with himself alone.
        bob_daemon = await alone_in_voice(bob, channel_id, socket_dir)
    finally:
        await daemon.stop()
        if bob_daemon is not None:
            await bob_daemon.stop()


async def test_a_voice_join_the_server_refuses_is_undone(
    harness: Harness, proxy: Proxy, socket_dir: Path
) -> None:
    alice = await harness.user("alice", url=proxy.url)
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "voice", bob)

    def room_full(frame: str) -> str:
        # The server's answer to a join into a full room, in place of the roster.
        if json.loads(frame).get("type") == "voice.roster":
            return json.dumps(
                {"type": "error", "code": "conflict", "message": "the voice room is full"}
            )
        return frame

    proxy.on_server_frame = room_full
    since = alice.seen.mark()
    daemon = await in_voice(alice, channel_id, socket_dir)
    bob_daemon = None
    try:
        error = await alice.seen.wait(
            Error, lambda e: "refused the voice room" in e.text, since=since
        )
        assert error.text.endswith("the voice room is full")
        assert (await daemon.next(ipc.VoiceLeaveCommand)).channel_id == channel_id
        assert alice.seen.of(VoiceState, since=since)[-1].channel_id is None
        # Alice's client left on the server's side too.
        bob_daemon = await alone_in_voice(bob, channel_id, socket_dir)
    finally:
        await daemon.stop()
        if bob_daemon is not None:
            await bob_daemon.stop()


def turn_server(config: ipc.IceConfig) -> IceServer:
    """The one TURN entry of a config (the one with credentials)."""
    turn = [server for server in config.ice_servers if server.username]
    assert len(turn) == 1, config
    return turn[0]


def turn_expiry(config: ipc.IceConfig) -> int:
    """The expiry (unix time) of the TURN REST credentials in a config: ``{expiry}:{user_id}``."""
    username = turn_server(config).username
    assert username is not None
    return int(username.split(":", 1)[0])


async def test_turn_credentials_are_renewed_during_a_call_before_they_expire(
    start_server: StartServer, http_session: aiohttp.ClientSession, tmp_path: Path, socket_dir: Path
) -> None:
    # A server handing out TURN credentials that last 2 s (DIALTONE_TURN_TTL=2).
    server = await start_server(turn_ttl_seconds=2)
    rig = Harness(server, ApiClient(http_session, server.base_url), tmp_path)
    daemon = Daemon(socket_dir / "alice.sock")
    try:
        alice = await rig.user("alice")
        bob = await rig.user("bob")
        channel_id = await rig.channel(alice, "voice", bob)
        await daemon.start()
        await alice.core.attach_voice(daemon.path)
        await alice.seen.wait(VoiceDaemonState, lambda e: e.available)
        await alice.core.voice_join(channel_id)
        first = await daemon.next(ipc.IceConfig)
        started = time.monotonic()
        await daemon.next(ipc.VoiceJoinCommand)
        renewed = await daemon.next(ipc.IceConfig, within=5.0)
        # At 80% of the 2 s lifetime, with credentials that expire later, in the same call.
        assert time.monotonic() - started >= 1.2
        assert turn_expiry(renewed) > turn_expiry(first)
        assert turn_server(renewed).credential != turn_server(first).credential
        assert alice.seen.of(VoiceState)[-1].channel_id == channel_id
        again = await daemon.next(ipc.IceConfig, within=5.0)
        assert turn_expiry(again) > turn_expiry(renewed)
        await alice.core.voice_leave()
        await daemon.next(ipc.VoiceLeaveCommand)
        with pytest.raises(TimeoutError):
            await daemon.next(ipc.IceConfig, within=2.5)
    finally:
        await rig.close()
        await daemon.stop()


async def test_turn_credentials_are_renewed_at_once_after_a_reconnect(
    harness: Harness, proxy: Proxy, socket_dir: Path
) -> None:
    alice = await harness.user("alice", url=proxy.url)
    bob = await harness.user("bob")
    channel_id = await harness.channel(alice, "voice", bob)
    daemon = Daemon(socket_dir / "alice.sock")
    await daemon.start()
    try:
        await alice.core.attach_voice(daemon.path)
        await alice.seen.wait(VoiceDaemonState, lambda e: e.available)
        await alice.core.voice_join(channel_id)
        first = await daemon.next(ipc.IceConfig)
        await daemon.next(ipc.VoiceJoinCommand)
        cut: list[str] = []

        def cut_on_typing(frame: str) -> str | object:
            if not cut and json.loads(frame).get("type") == "channel.typing":
                cut.append(frame)
                return CUT
            return frame

        proxy.on_server_frame = cut_on_typing
        since = alice.seen.mark()
        await asyncio.sleep(1.1)  # so the new credentials' expiry (in whole seconds) is later
        await bob.core.send_typing(channel_id)
        await alice.seen.wait(Reconnecting, since=since)
        await alice.seen.wait(Connected, since=since)
        # The default lifetime is an hour: only the reconnect explains a renewal now.
        renewed = await daemon.next(ipc.IceConfig, within=5.0)
        assert turn_expiry(renewed) > turn_expiry(first)
        assert alice.seen.of(VoiceState)[-1].channel_id == channel_id
    finally:
        await daemon.stop()
