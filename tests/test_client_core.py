"""The client core against a real server and PostgreSQL: two users and their devices exchanging
messages each sees decrypted, history paging, tampering (in the database or by a proxy) shown as
such, reconnect with resume, the offline queue, and idempotent resends.

Trust and key rotation are in test_client_trust_flows.py; voice signaling in
test_client_voice_signaling.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import asyncpg
import attrs
import pytest
from aiohttp import web

from dialtone.client.core import ClientCore, ClientOptions
from dialtone.client.core.events import (
    ChannelsChanged,
    ClientEvent,
    Connected,
    DecryptedMessage,
    FailedMessage,
    FailureReason,
    MessageAcked,
    MessageFailed,
    MessageQueued,
    MessageReceived,
    Offline,
    ProfileChanged,
    Reconnecting,
    Synced,
)
from dialtone.keystore import ScryptParams
from dialtone.server.testing import (
    ApiClient,
    PostgresCluster,
    RunningServer,
    StartServer,
    create_invite,
)

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
        timeout: float = WAIT,
    ) -> T:
        """The first event of type `cls` after `since` that satisfies `where`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events[since:]:
                if isinstance(event, cls) and where(event):
                    return event
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [type(e).__name__ for e in self.events[since:]]
                raise AssertionError(f"no {cls.__name__} within {timeout} s; saw {seen}")
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
        event = await self.seen.wait(
            MessageReceived, lambda e: e.message.body == body, since=since
        )
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
        invite = await create_invite(self.api, self.server.config.admin_token)
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
                lambda e: any(c.channel_id == view.channel_id and c.name == name for c in e.channels),
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


# --- a WebSocket + HTTP proxy that can alter what the server says ----------------------------------

CUT: Final = object()
"""Returned by a proxy filter: close the client's connection instead of forwarding the frame."""

FrameFilter = Callable[[str], "str | None | object"]


class Proxy:
    """A reverse proxy on 127.0.0.1 in front of the server. `on_server_frame` sees each
    server-to-client WebSocket frame and returns it (perhaps changed), None to drop it, or `CUT`
    to close the client's connection."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.on_server_frame: FrameFilter = lambda frame: frame
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
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
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
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
            event["message"]["sealed_body"] = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
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
    assert [(m.seq, m.body) for m in replayed] == [(2, "missed 1"), (3, "missed 2"), (4, "missed 3")]
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
