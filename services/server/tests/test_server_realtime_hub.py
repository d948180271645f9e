"""The local hub and its connections over real sockets: fan-out, ordering, slow consumers, closing.

A tiny aiohttp application registers each WebSocket with a `Hub` exactly as the server's /v1/ws
route does, minus authentication and the database; the clients are real aiohttp WebSockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aiohttp
import attrs
import pytest
from aiohttp import web

from dialtone.server.realtime.connection import RESYNC, Connection
from dialtone.server.realtime.frames import text_frame
from dialtone.server.realtime.hub import Hub
from dialtone.wire.ws import CloseCode


@attrs.define
class HubSite:
    """A running test application around one hub."""

    hub: Hub
    url: str
    session: aiohttp.ClientSession
    attached: dict[str, Connection] = attrs.field(factory=dict)
    queue_limit: int = 64
    close_timeout: float = 5.0

    async def connect(
        self, user: str, *channels: str, device: str | None = None
    ) -> tuple[aiohttp.ClientWebSocketResponse, Connection]:
        device = device or new_id()
        params = {"user": user, "device": device, "channels": ",".join(channels)}
        ws = await self.session.ws_connect(self.url, params=params, autoping=True)
        for _ in range(500):
            if device in self.attached:
                return ws, self.attached[device]
            await asyncio.sleep(0.01)
        raise AssertionError("server never attached the connection")


def new_id() -> str:
    return str(uuid4())


def event(n: int, *, size: int = 0) -> bytes:
    body = {"n": n, "pad": "x" * size}
    return text_frame(json.dumps(body).encode())


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    msg = await ws.receive(timeout=5.0)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data = json.loads(msg.data)
    assert isinstance(data, dict)
    return data


async def read_to_close(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[int], int]:
    """Read event numbers until the close frame; return them and the close code it carried."""
    numbers: list[int] = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            assert msg.type is aiohttp.WSMsgType.CLOSE, msg
            return numbers, int(msg.data)
        numbers.append(json.loads(msg.data)["n"])


async def nothing_arrives(ws: aiohttp.ClientWebSocketResponse, wait: float = 0.2) -> bool:
    try:
        msg = await ws.receive(timeout=wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {msg!r}")


@pytest.fixture
async def site() -> AsyncIterator[HubSite]:
    hub = Hub()
    holder: dict[str, HubSite] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        test_site = holder["site"]
        ws = web.WebSocketResponse(compress=False, timeout=test_site.close_timeout)
        writer = await ws.prepare(request)
        assert request.transport is not None
        q = request.query
        conn = Connection(
            conn_id=hub.next_id(),
            user_id=q["user"],
            device_id=q["device"],
            session_id=new_id(),
            session_expires_at=datetime.now(UTC) + timedelta(hours=1),
            ws=ws,
            transport=request.transport,
            drain=writer.drain,
            batcher=hub.batcher,
            queue_limit=test_site.queue_limit,
            close_timeout=test_site.close_timeout,
        )
        channels = [c for c in q["channels"].split(",") if c]
        hub.attach(conn, channels)
        test_site.attached[conn.device_id] = conn
        try:
            # Read the way `/v1/ws` sessions do, so server-side closes complete the handshake
            # (and the handler returns only once its close is done).
            while await conn.receive() is not None:
                pass
        finally:
            hub.detach(conn)
            await conn.wait_closed()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        holder["site"] = HubSite(hub, f"http://127.0.0.1:{port}/ws", session)
        yield holder["site"]
        await hub.close_all(CloseCode.GOING_AWAY, within=5)
    await runner.cleanup()


async def test_text_frame_sizes_parse_as_text_frames(site: HubSite) -> None:
    """Frames of each header length (7-bit, 16-bit and 64-bit sizes) reach the client intact."""
    ws, conn = await site.connect(new_id())
    for size in (0, 1, 125, 126, 65535, 65536, 200_000):
        payload = ("é" * (size // 2) + "a" * (size % 2)).encode()
        conn.send(text_frame(payload))
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT
        assert msg.data.encode() == payload


async def test_fanout_reaches_only_subscribers_of_the_channel(site: HubSite) -> None:
    """A channel event reaches the members' connections and no one else."""
    channel, other = new_id(), new_id()
    alice, bob, mallory = new_id(), new_id(), new_id()
    ws_a, _ = await site.connect(alice, channel)
    ws_b, _ = await site.connect(bob, channel, other)
    ws_m, _ = await site.connect(mallory, other)
    assert site.hub.fanout(channel, event(1)) == 2
    assert (await receive_json(ws_a))["n"] == 1
    assert (await receive_json(ws_b))["n"] == 1
    assert await nothing_arrives(ws_m)


async def test_fanout_excludes_the_origin_and_tracks_its_own_message(site: HubSite) -> None:
    """The sender's connection gets no copy of its message, yet its position moves past it."""
    channel = new_id()
    ws_a, conn_a = await site.connect(new_id(), channel)
    ws_b, conn_b = await site.connect(new_id(), channel)
    site.hub.fanout_message(channel, 1, event(1), origin=conn_a)
    site.hub.fanout_message(channel, 2, event(2), origin=conn_b)
    assert (await receive_json(ws_b))["n"] == 1
    assert (await receive_json(ws_a))["n"] == 2
    assert conn_a.delivered(channel) == conn_b.delivered(channel) == 2
    assert await nothing_arrives(ws_a)
    assert await nothing_arrives(ws_b)


async def test_membership_changes_move_subscriptions(site: HubSite) -> None:
    """Subscribing a user reaches all their devices; unsubscribing stops delivery at once."""
    channel, user = new_id(), new_id()
    ws_1, _ = await site.connect(user)
    ws_2, _ = await site.connect(user)
    assert site.hub.fanout(channel, event(0)) == 0
    site.hub.subscribe(channel, user)
    assert site.hub.fanout(channel, event(1)) == 2
    assert (await receive_json(ws_1))["n"] == 1
    assert (await receive_json(ws_2))["n"] == 1
    site.hub.unsubscribe(channel, user)
    assert site.hub.fanout(channel, event(2)) == 0
    assert not site.hub.has_subscribers(channel)
    assert await nothing_arrives(ws_1)


async def test_user_and_device_targets(site: HubSite) -> None:
    """`to_user` reaches every device of a user; `to_device` exactly one."""
    user = new_id()
    d1, d2 = new_id(), new_id()
    ws_1, _ = await site.connect(user, device=d1)
    ws_2, _ = await site.connect(user, device=d2)
    assert site.hub.to_user(user, event(1), exclude_device=d1) == 1
    assert (await receive_json(ws_2))["n"] == 1
    assert site.hub.to_device(user, d1, event(2))
    assert (await receive_json(ws_1))["n"] == 2
    assert not site.hub.to_device(user, new_id(), event(3))
    assert await nothing_arrives(ws_2)


async def test_catch_up_then_live_has_no_gap_and_no_duplicate(site: HubSite) -> None:
    """Live messages that arrive during the catch-up are sent after it, minus those it covered."""
    channel = new_id()
    ws, conn = await site.connect(new_id(), channel)
    conn.hold_live()
    # Live traffic arrives while the database is being read: seq 4 and 5 are also in the page.
    site.hub.fanout_message(channel, 4, event(4), origin=None)
    site.hub.fanout_message(channel, 5, event(5), origin=None)
    site.hub.fanout(channel, event(-1))
    site.hub.fanout_message(channel, 6, event(6), origin=None)
    conn.set_position(channel, 2)
    for seq in (3, 4, 5):
        conn.send_catch_up(channel, seq, event(seq))
    conn.release_live()
    site.hub.fanout_message(channel, 7, event(7), origin=None)
    got = [(await receive_json(ws))["n"] for _ in range(6)]
    assert got == [3, 4, 5, -1, 6, 7]
    assert await nothing_arrives(ws)


async def test_a_hole_in_the_stream_closes_with_resync(site: HubSite) -> None:
    """A message whose predecessor never came is not delivered over the hole: RESYNC instead."""
    channel = new_id()
    ws, _conn = await site.connect(new_id(), channel)
    site.hub.fanout_message(channel, 1, event(1), origin=None)
    site.hub.fanout_message(channel, 3, event(3), origin=None)
    assert await read_to_close(ws) == ([1], RESYNC)


async def test_slow_consumer_is_closed_with_its_code_after_an_unbroken_prefix(
    site: HubSite,
) -> None:
    """A client that stops reading is disconnected with SLOW_CONSUMER; what it got has no hole."""
    site.queue_limit = 8
    channel = new_id()
    slow_ws, slow = await site.connect(new_id(), channel)
    fast_ws, _ = await site.connect(new_id(), channel)
    sent = 0
    fast_got = 0
    # The slow client never reads until the server gives up on it: kernel buffers, the transport
    # buffer and then the queue fill up. The fast client keeps reading throughout.
    while not slow.closing and sent < 5000:
        sent += 1
        site.hub.fanout_message(channel, sent, event(sent, size=32_000), origin=None)
        await asyncio.sleep(0)
        while True:
            try:
                msg = await fast_ws.receive(timeout=0.001 if fast_got < sent - 4 else 0.5)
            except TimeoutError:
                break
            assert json.loads(msg.data)["n"] == fast_got + 1
            fast_got += 1
            if fast_got == sent:
                break
    assert slow.closing
    assert slow.close_code is CloseCode.SLOW_CONSUMER
    numbers, code = await read_to_close(slow_ws)
    assert code == CloseCode.SLOW_CONSUMER
    assert numbers == list(range(1, len(numbers) + 1))
    assert 0 < len(numbers) < sent
    # The fast consumer was not held back and is still connected.
    site.hub.fanout_message(channel, sent + 1, event(sent + 1), origin=None)
    while fast_got < sent + 1:
        assert json.loads((await fast_ws.receive(timeout=5)).data)["n"] == fast_got + 1
        fast_got += 1
    assert not fast_ws.closed


async def test_close_all_sends_notice_and_queued_frames_then_going_away(site: HubSite) -> None:
    """Shutdown hands each client a notice and everything queued, then closes with GOING_AWAY."""
    channel = new_id()
    ws_a, _ = await site.connect(new_id(), channel)
    ws_b, _ = await site.connect(new_id(), channel)
    for seq in range(1, 41):
        site.hub.fanout_message(channel, seq, event(seq, size=20_000), origin=None)
    site.hub.begin_shutdown()
    assert not site.hub.accepting
    await asyncio.gather(
        site.hub.close_all(
            CloseCode.GOING_AWAY, notice=text_frame(b'{"n": 0, "bye": true}'), within=10
        ),
        _read_to_close(ws_a, 41),
        _read_to_close(ws_b, 41),
    )


async def _read_to_close(ws: aiohttp.ClientWebSocketResponse, frames: int) -> None:
    numbers, code = await read_to_close(ws)
    assert len(numbers) == frames
    assert sorted(numbers[:-1]) == numbers[:-1] == list(range(1, frames))
    assert numbers[-1] == 0
    assert code == CloseCode.GOING_AWAY


async def test_detach_unregisters_every_index(site: HubSite) -> None:
    """When a client disconnects the hub forgets it everywhere."""
    channel, user = new_id(), new_id()
    ws, _ = await site.connect(user, channel)
    assert site.hub.is_local(user)
    await ws.close()
    await _eventually(lambda: not site.hub.is_local(user))
    assert not site.hub.has_subscribers(channel)
    assert len(site.hub) == 0


async def _eventually(check: Callable[[], bool | Awaitable[bool]]) -> None:
    deadline = asyncio.get_running_loop().time() + 5.0
    while asyncio.get_running_loop().time() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")
