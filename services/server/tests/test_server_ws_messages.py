"""Channel messages over /v1/ws: ack after storage, fan-out to members only, idempotent resend."""

from __future__ import annotations

import asyncio
import secrets

from dialtone.server.clock import ManualClock
from dialtone.server.keys import STORAGE_KEY
from dialtone.server.realtime.testing import WsClient
from dialtone.server.realtime.wiring import HUB_KEY
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    StartServer,
    TestUser,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import ws
from dialtone.wire.common import ErrorCode, Ping, Pong


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


async def test_message_is_acked_with_seq_and_reaches_members_only(
    api: ApiClient, server: RunningServer
) -> None:
    """The sender gets an ack with the stored seq; members get the message; others nothing."""
    alice, bob, carol, mallory = await users(api, server, 4)
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c, m = [await WsClient.connect(api, user) for user in (alice, bob, carol, mallory)]
    msg_id = await a.send_message(channel.channel_id, body=b"opaque-ciphertext")
    ack = await a.next(ws.MessageAck)
    assert (ack.channel_id, ack.client_msg_id, ack.seq) == (channel.channel_id, msg_id, 1)
    for client in (b, c):
        new = await client.next(ws.MessageNew)
        message = new.message
        assert (message.seq, message.client_msg_id) == (1, msg_id)
        assert message.sealed_body == b"opaque-ciphertext"
        assert (message.sender_user_id, message.sender_device_id) == (
            alice.user_id,
            alice.device.device_id,
        )
        assert message.server_ts == ack.server_ts
    assert await m.quiet(ws.MessageNew)
    assert await a.quiet(ws.MessageNew)
    stored = await server.app[STORAGE_KEY].messages.since(channel.channel_id, 0, limit=10)
    assert [(r.seq, r.client_msg_id) for r in stored] == [(1, msg_id)]


async def test_sequence_numbers_increase_per_channel_in_delivery_order(
    api: ApiClient, server: RunningServer
) -> None:
    """Concurrent senders get distinct, gap-free seqs; every member sees them in seq order."""
    alice, bob, carol = await users(api, server, 3)
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    clients = [await WsClient.connect(api, user) for user in (alice, bob, carol)]
    per_sender = 30
    await asyncio.gather(
        *(
            asyncio.gather(*(c.send_message(channel.channel_id) for _ in range(per_sender)))
            for c in clients
        )
    )
    total = per_sender * len(clients)
    for client in clients:
        acks = await client.collect(ws.MessageAck, per_sender)
        news = await client.collect(ws.MessageNew, total - per_sender)
        seqs = sorted([a.seq for a in acks] + [n.message.seq for n in news])
        assert seqs == list(range(1, total + 1))
        received = [n.message.seq for n in news]
        assert received == sorted(received)


async def test_the_senders_other_devices_get_the_message(
    api: ApiClient, server: RunningServer
) -> None:
    """A second connection of the same user (another session) receives what the first sent."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    first = await WsClient.connect(api, alice)
    second = await WsClient.connect(api, alice)
    await first.send_message(channel.channel_id)
    await first.next(ws.MessageAck)
    assert (await second.next(ws.MessageNew)).message.seq == 1
    assert await first.quiet(ws.MessageNew)


async def test_resending_a_message_id_acks_the_stored_copy_once(
    api: ApiClient, server: RunningServer
) -> None:
    """A resend after a lost ack gets the original seq and is not delivered twice."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    msg_id = await a.send_message(channel.channel_id)
    first = await a.next(ws.MessageAck)
    await a.send_message(channel.channel_id, client_msg_id=msg_id)
    again = await a.next(ws.MessageAck)
    assert (again.seq, again.server_ts) == (first.seq, first.server_ts)
    assert (await b.next(ws.MessageNew)).message.seq == first.seq
    assert await b.quiet(ws.MessageNew)


async def test_refused_messages_get_an_error_with_their_id(
    api: ApiClient, server: RunningServer
) -> None:
    """A non-member's message and a stale-epoch message are refused, stored nowhere."""
    alice, mallory = await users(api, server, 2)
    channel = await create_channel(api, alice)
    a, m = await WsClient.connect(api, alice), await WsClient.connect(api, mallory)
    intruder = await m.send_message(channel.channel_id)
    error = await m.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.FORBIDDEN, intruder)
    stale = await a.send_message(channel.channel_id, key_epoch=2)
    error = await a.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.STALE_EPOCH, stale)
    assert await server.app[STORAGE_KEY].messages.last_seq(channel.channel_id) == 0
    assert await a.quiet(ws.MessageNew)


async def test_frames_over_the_event_budget_get_rate_limited_errors_with_their_id(
    api: ApiClient, start_server: StartServer, manual_clock: ManualClock
) -> None:
    """Once a device's event budget is spent, a message is refused with `rate_limited` whose
    `ref` is its `client_msg_id` (signaling: its `call_id`), so the client can mark it and send it
    again; nothing is stored, and the same id goes through once the budget has refilled."""
    server = await start_server(clock=manual_clock)
    api = ApiClient(api.session, server.base_url)
    (alice,) = await users(api, server, 1)
    channel = await create_channel(api, alice)
    a = await WsClient.connect(api, alice)
    settings = server.app[HUB_KEY].settings
    # The manual clock stands still: the bucket does not refill until the test moves it.
    for ping_id in range(settings.event_burst):
        await a.send(Ping(ping_id=ping_id))
    assert len(await a.collect(Pong, settings.event_burst)) == settings.event_burst
    msg_id = await a.send_message(channel.channel_id)
    error = await a.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.RATE_LIMITED, msg_id)
    call_id = "call-" + secrets.token_hex(4)
    await a.send(
        ws.WebRtcOffer(
            channel_id=channel.channel_id,
            call_id=call_id,
            to_device_id=alice.device.device_id,
            sdp="v=0\r\n",
            signature=secrets.token_bytes(64),
        )
    )
    error = await a.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.RATE_LIMITED, call_id)
    await a.send(ws.TypingStart(channel_id=channel.channel_id))
    error = await a.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.RATE_LIMITED, None)
    assert await server.app[STORAGE_KEY].messages.last_seq(channel.channel_id) == 0
    manual_clock.advance(1.0)
    await a.send_message(channel.channel_id, client_msg_id=msg_id)
    ack = await a.next(ws.MessageAck)
    assert (ack.client_msg_id, ack.seq) == (msg_id, 1)
