"""Several server processes on one PostgreSQL form one service (LISTEN/NOTIFY): messages, events,
presence and voice reach clients whichever replica they are connected to."""

from __future__ import annotations

import asyncio
import secrets

from dialtone.server.realtime.testing import WsClient
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    StartProcess,
    StartServer,
    TestUser,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import http, ws
from dialtone.wire.common import PresenceStatus


async def two_replicas(
    api: ApiClient, start_server: StartServer, **overrides: object
) -> tuple[RunningServer, ApiClient, RunningServer, ApiClient]:
    one = await start_server(**overrides)
    two = await start_server(**overrides)
    assert one.base_url != two.base_url
    return one, ApiClient(api.session, one.base_url), two, ApiClient(api.session, two.base_url)


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


async def test_messages_cross_replicas_in_one_order(
    api: ApiClient, start_server: StartServer
) -> None:
    """Senders on both replicas: every member, on either replica, sees seq 1..N in order."""
    one, api_one, _two, api_two = await two_replicas(api, start_server)
    alice, bob, carol, dave = await users(api_one, one, 4)
    channel = await create_channel(api_one, alice)
    for user in (bob, carol, dave):
        await add_member(api_one, channel, alice, user)
    a = await WsClient.connect(api_one, alice)
    c = await WsClient.connect(api_one, carol)
    b = await WsClient.connect(api_two, bob)
    d = await WsClient.connect(api_two, dave)
    per_sender = 40
    await asyncio.gather(
        *(
            asyncio.gather(*(s.send_message(channel.channel_id) for _ in range(per_sender)))
            for s in (a, b)
        )
    )
    total = 2 * per_sender
    for listener in (c, d):
        seqs = [n.message.seq for n in await listener.collect(ws.MessageNew, total, within=20)]
        assert seqs == list(range(1, total + 1))
    for sender in (a, b):
        acks = await sender.collect(ws.MessageAck, per_sender, within=20)
        news = await sender.collect(ws.MessageNew, per_sender, within=20)
        assert sorted([x.seq for x in acks] + [n.message.seq for n in news]) == list(
            range(1, total + 1)
        )


async def test_http_changes_on_one_replica_reach_clients_on_the_other(
    api: ApiClient, start_server: StartServer
) -> None:
    """Adding a member through replica one subscribes their connection on replica two."""
    one, api_one, _two, api_two = await two_replicas(api, start_server)
    alice, bob = await users(api_one, one, 2)
    channel = await create_channel(api_one, alice)
    a = await WsClient.connect(api_one, alice)
    b = await WsClient.connect(api_two, bob)
    await add_member(api_one, channel, alice, bob)
    assert (await b.next(ws.MemberAdded)).channel_id == channel.channel_id
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == 1
    await b.send(ws.TypingStart(channel_id=channel.channel_id))
    assert (await a.next(ws.Typing)).user_id == bob.user_id


async def test_presence_spans_replicas(api: ApiClient, start_server: StartServer) -> None:
    """A user connected to one replica is online for clients and HTTP on the other."""
    one, api_one, _two, api_two = await two_replicas(api, start_server)
    alice, bob = await users(api_one, one, 2)
    channel = await create_channel(api_one, alice)
    await add_member(api_one, channel, alice, bob)
    a = await WsClient.connect(api_one, alice)
    b = await WsClient.connect(api_two, bob)
    assert (await a.next(ws.PresenceChanged, user_id=bob.user_id)).status is PresenceStatus.ONLINE
    listed = await api_one.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/presence",
        http.PresenceListResponse,
        token=alice.token,
    )
    assert {p.user_id: p.status for p in listed.presence}[bob.user_id] is PresenceStatus.ONLINE
    # A second connection on the first replica, then the one on the second closes: still online.
    b_again = await WsClient.connect(api_one, bob)
    await b.close()
    assert await a.quiet(ws.PresenceChanged, user_id=bob.user_id, within=0.5)
    await b_again.close()
    offline = await a.next(ws.PresenceChanged, user_id=bob.user_id)
    assert offline.status is PresenceStatus.OFFLINE


async def test_voice_rooms_and_relay_span_replicas(
    api: ApiClient, start_server: StartServer
) -> None:
    """The roster includes devices on the other replica, and offers reach them there."""
    one, api_one, _two, api_two = await two_replicas(api, start_server)
    alice, bob = await users(api_one, one, 2)
    channel = await create_channel(api_one, alice)
    await add_member(api_one, channel, alice, bob)
    a = await WsClient.connect(api_one, alice)
    b = await WsClient.connect(api_two, bob)
    await a.send(ws.VoiceJoin(channel_id=channel.channel_id))
    await a.next(ws.VoiceRoster)
    await b.next(ws.VoicePresence, change=ws.VoiceChange.JOINED)
    await b.send(ws.VoiceJoin(channel_id=channel.channel_id))
    roster = await b.next(ws.VoiceRoster)
    assert {p.user_id for p in roster.participants} == {alice.user_id, bob.user_id}
    await a.next(ws.VoicePresence, change=ws.VoiceChange.JOINED)
    await b.send(
        ws.WebRtcOffer(
            channel_id=channel.channel_id,
            call_id="cross",
            to_device_id=alice.device.device_id,
            sdp="v=0\r\n" + "a=candidate-padding\r\n" * 600,
            signature=secrets.token_bytes(64),
        )
    )
    relayed = await a.next(ws.WebRtcOfferRelayed)
    # Over PostgreSQL's 8000-byte NOTIFY limit: carried in parts and reassembled.
    assert len(relayed.sdp) > 8000
    assert relayed.from_device_id == bob.device.device_id


async def test_resuming_on_the_other_replica_has_no_gap(
    api: ApiClient, start_server: StartServer
) -> None:
    """A client that moves from one replica to the other resumes exactly where it left off."""
    one, api_one, _two, api_two = await two_replicas(api, start_server)
    alice, bob = await users(api_one, one, 2)
    channel = await create_channel(api_one, alice)
    await add_member(api_one, channel, alice, bob)
    a = await WsClient.connect(api_one, alice)
    b = await WsClient.connect(api_one, bob)
    for _ in range(10):
        await a.send_message(channel.channel_id)
    seen = [n.message.seq for n in await b.collect(ws.MessageNew, 10)]
    assert seen == list(range(1, 11))
    await b.close()
    for _ in range(10):
        await a.send_message(channel.channel_id)
    await a.collect(ws.MessageAck, 20)
    b = await WsClient.connect(api_two, bob, resume=[(channel.channel_id, seen[-1])])
    seen += [n.message.seq for n in b.replayed]
    await a.send_message(channel.channel_id)
    seen.append((await b.next(ws.MessageNew)).message.seq)
    assert seen == list(range(1, 22))


async def test_a_killed_replica_is_forgotten(
    api: ApiClient, start_server: StartServer, server_process: StartProcess
) -> None:
    """After kill -9 of a replica its users go offline and leave their voice rooms elsewhere."""
    one = await start_server(ws_heartbeat_seconds=1.0)
    api_one = ApiClient(api.session, one.base_url)
    two = await server_process(env={"DIALTONE_WS_HEARTBEAT": "1"})
    api_two = ApiClient(api.session, two.base_url)
    alice, bob = await users(api_one, one, 2)
    channel = await create_channel(api_one, alice)
    await add_member(api_one, channel, alice, bob)
    a = await WsClient.connect(api_one, alice)
    b = await WsClient.connect(api_two, bob)
    await a.next(ws.PresenceChanged, user_id=bob.user_id, status=PresenceStatus.ONLINE)
    await b.send(ws.VoiceJoin(channel_id=channel.channel_id))
    await a.next(ws.VoicePresence, change=ws.VoiceChange.JOINED)
    two.kill()
    offline = await a.next(ws.PresenceChanged, user_id=bob.user_id, within=15)
    assert offline.status is PresenceStatus.OFFLINE
    left = await a.next(ws.VoicePresence, change=ws.VoiceChange.LEFT, within=5)
    assert left.participant.user_id == bob.user_id
