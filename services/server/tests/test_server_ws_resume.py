"""Resume: what a client missed comes from the database, in order, before live traffic, with no
gap and no duplicate at the switch-over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from dialtone.server.keys import POOL_KEY
from dialtone.server.realtime.testing import WsClient
from dialtone.server.storage.notify import MessageLog
from dialtone.server.storage.records import NewMessage
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    TestUser,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import http, ws
from dialtone.wire.common import ChannelCursor


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


async def send_and_ack(client: WsClient, channel_id: str, count: int) -> list[int]:
    for _ in range(count):
        await client.send_message(channel_id)
    return [ack.seq for ack in await client.collect(ws.MessageAck, count)]


async def test_resume_replays_missed_messages_then_goes_live(
    api: ApiClient, server: RunningServer
) -> None:
    """Messages after the cursor arrive oldest first, then `resume.done`, then live ones."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a = await WsClient.connect(api, alice)
    assert await send_and_ack(a, channel.channel_id, 20) == list(range(1, 21))
    b = await WsClient.connect(api, bob, resume=[(channel.channel_id, 5)])
    assert [n.message.seq for n in b.replayed] == list(range(6, 21))
    assert b.resume_done is not None
    assert b.resume_done.cursors == (ChannelCursor(channel_id=channel.channel_id, seq=20),)
    assert b.resume_done.truncated == ()
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == 21


async def test_switch_over_under_load_has_no_gap_and_no_duplicate(
    api: ApiClient, server: RunningServer
) -> None:
    """A client reconnecting again and again while messages keep coming sees each seq once."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a = await WsClient.connect(api, alice)
    total = 300
    sending = asyncio.ensure_future(_send_paced(a, channel.channel_id, total))
    seen: list[int] = []
    last = 0
    while len(seen) < total:
        b = await WsClient.connect(api, bob, resume=[(channel.channel_id, last)])
        got = [n.message.seq for n in b.replayed]
        for _ in range(15):
            try:
                got.append((await b.next(ws.MessageNew, within=2)).message.seq)
            except TimeoutError:
                break
        await b.close()
        seen.extend(got)
        if got:
            last = got[-1]
    await sending
    assert seen == list(range(1, total + 1))


async def _send_paced(client: WsClient, channel_id: str, count: int) -> None:
    for _ in range(count):
        await client.send_message(channel_id)
        await asyncio.sleep(0.002)
    await client.collect(ws.MessageAck, count, within=30)


async def test_channels_not_resumed_start_at_their_head(
    api: ApiClient, server: RunningServer
) -> None:
    """Without a cursor nothing is replayed; `resume.done` gives the head, live follows it."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a = await WsClient.connect(api, alice)
    await send_and_ack(a, channel.channel_id, 3)
    b = await WsClient.connect(api, bob)
    assert b.replayed == []
    assert b.resume_done is not None
    assert b.resume_done.cursors == (ChannelCursor(channel_id=channel.channel_id, seq=3),)
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == 4


async def test_cursors_for_foreign_channels_replay_nothing(
    api: ApiClient, server: RunningServer
) -> None:
    """A resume cursor for a channel the user is not in is ignored: no history leaks."""
    alice, mallory = await users(api, server, 2)
    channel = await create_channel(api, alice)
    a = await WsClient.connect(api, alice)
    await send_and_ack(a, channel.channel_id, 3)
    m = await WsClient.connect(api, mallory, resume=[(channel.channel_id, 0)])
    assert m.replayed == []
    assert m.resume_done == ws.ResumeDone(cursors=(), truncated=())


async def test_a_long_gap_is_replayed_up_to_the_limit_and_reported_truncated(
    api: ApiClient, server: RunningServer
) -> None:
    """Past the replay limit the channel is listed as truncated; live traffic follows the head
    and the rest is in the history API."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a = await WsClient.connect(api, alice)
    total = 2010
    # Stored directly: sending this many over one connection would hit its rate limit.
    log = MessageLog(server.app[POOL_KEY])
    for start in range(0, total, 200):
        batch = [
            NewMessage(
                channel_id=channel.channel_id,
                client_msg_id=f"bulk-{n}",
                sender_user_id=alice.user_id,
                sender_device_id=alice.device.device_id,
                key_epoch=1,
                sealed_body=b"b" * 32,
                sealed_sender_name=b"n" * 16,
                signature=b"s" * 64,
            )
            for n in range(start, min(total, start + 200))
        ]
        await log.append_batch(channel.channel_id, batch, now=datetime.now(UTC))
    b = await WsClient.connect(api, bob, resume=[(channel.channel_id, 0)])
    assert [n.message.seq for n in b.replayed] == list(range(1, 2001))
    assert b.resume_done is not None
    assert b.resume_done.truncated == (channel.channel_id,)
    assert b.resume_done.cursors == (ChannelCursor(channel_id=channel.channel_id, seq=total),)
    page = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/messages",
        http.MessagePage,
        token=bob.token,
        params={"after": "2000", "limit": "200"},
    )
    assert [m.seq for m in page.messages] == list(range(2001, total + 1))
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == total + 1
