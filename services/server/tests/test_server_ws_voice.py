"""Voice rooms over /v1/ws: join, roster, presence, and signaling relayed only within a room."""

from __future__ import annotations

import secrets

from dialtone.server.realtime.testing import WsClient
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    TestUser,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import ws
from dialtone.wire.common import ErrorCode


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


def offer(channel_id: str, to: TestUser, call_id: str = "call-1") -> ws.WebRtcOffer:
    return ws.WebRtcOffer(
        channel_id=channel_id,
        call_id=call_id,
        to_device_id=to.device.device_id,
        sdp="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n",
        signature=secrets.token_bytes(64),
    )


async def test_join_sends_the_roster_and_tells_the_channel(
    api: ApiClient, server: RunningServer
) -> None:
    """The joiner gets everyone in the room; channel members see who joined, muted or left."""
    alice, bob, carol = await users(api, server, 3)
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c = [await WsClient.connect(api, u) for u in (alice, bob, carol)]
    await a.send(ws.VoiceJoin(channel_id=channel.channel_id))
    roster = await a.next(ws.VoiceRoster)
    assert [p.device_id for p in roster.participants] == [alice.device.device_id]
    joined = await c.next(ws.VoicePresence)
    assert (joined.change, joined.participant.user_id) == (ws.VoiceChange.JOINED, alice.user_id)
    await b.send(ws.VoiceJoin(channel_id=channel.channel_id, muted=True))
    roster = await b.next(ws.VoiceRoster)
    assert [p.user_id for p in roster.participants] == [alice.user_id, bob.user_id]
    assert roster.participants[1].muted
    await b.send(ws.VoiceStateSet(channel_id=channel.channel_id, muted=False, deafened=True))
    updated = await a.next(ws.VoicePresence, change=ws.VoiceChange.UPDATED)
    assert (updated.participant.muted, updated.participant.deafened) == (False, True)
    await b.send(ws.VoiceLeave(channel_id=channel.channel_id))
    left = await c.next(ws.VoicePresence, change=ws.VoiceChange.LEFT)
    assert left.participant.user_id == bob.user_id


async def test_non_members_cannot_join(api: ApiClient, server: RunningServer) -> None:
    """Joining the room of a channel one is not in is refused, and nobody hears of it."""
    alice, mallory = await users(api, server, 2)
    channel = await create_channel(api, alice)
    a, m = await WsClient.connect(api, alice), await WsClient.connect(api, mallory)
    await m.send(ws.VoiceJoin(channel_id=channel.channel_id))
    error = await m.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.FORBIDDEN, channel.channel_id)
    assert await a.quiet(ws.VoicePresence)


async def test_signaling_is_relayed_between_devices_of_one_room(
    api: ApiClient, server: RunningServer
) -> None:
    """Offer, answer and candidates reach the addressed device with the sender filled in by the
    server; nobody else sees them."""
    alice, bob, carol = await users(api, server, 3)
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c = [await WsClient.connect(api, u) for u in (alice, bob, carol)]
    for client in (a, b, c):
        await client.send(ws.VoiceJoin(channel_id=channel.channel_id))
        await client.next(ws.VoiceRoster)
    sent = offer(channel.channel_id, bob)
    await a.send(sent)
    got = await b.next(ws.WebRtcOfferRelayed)
    assert (got.from_user_id, got.from_device_id) == (alice.user_id, alice.device.device_id)
    assert (got.call_id, got.sdp, got.signature) == (sent.call_id, sent.sdp, sent.signature)
    await b.send(
        ws.WebRtcAnswer(
            channel_id=channel.channel_id,
            call_id=got.call_id,
            to_device_id=alice.device.device_id,
            sdp="v=0\r\n",
            signature=secrets.token_bytes(64),
        )
    )
    assert (await a.next(ws.WebRtcAnswerRelayed)).from_device_id == bob.device.device_id
    await a.send(
        ws.WebRtcIce(
            channel_id=channel.channel_id,
            call_id=got.call_id,
            to_device_id=bob.device.device_id,
            candidate="candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
            sdp_mid="0",
            sdp_mline_index=0,
        )
    )
    ice = await b.next(ws.WebRtcIceRelayed)
    assert (ice.sdp_mid, ice.sdp_mline_index) == ("0", 0)
    for other in (c,):
        assert await other.quiet(ws.WebRtcOfferRelayed, within=0.1)
        assert await other.quiet(ws.WebRtcIceRelayed, within=0.05)


async def test_signaling_outside_the_room_is_refused(api: ApiClient, server: RunningServer) -> None:
    """A device not in the room, in another room, or a sender outside the room: refused with
    the call id, and the target hears nothing."""
    alice, bob, carol = await users(api, server, 3)
    channel = await create_channel(api, alice)
    other = await create_channel(api, carol)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c = [await WsClient.connect(api, u) for u in (alice, bob, carol)]
    await a.send(ws.VoiceJoin(channel_id=channel.channel_id))
    await a.next(ws.VoiceRoster)
    # Bob is a member but has not joined the room.
    await a.send(offer(channel.channel_id, bob, call_id="not-in-room"))
    error = await a.next(ws.ErrorEvent)
    assert (error.code, error.ref) == (ErrorCode.FORBIDDEN, "not-in-room")
    # Carol is in another room.
    await c.send(ws.VoiceJoin(channel_id=other.channel_id))
    await c.next(ws.VoiceRoster)
    await a.send(offer(channel.channel_id, carol, call_id="other-room"))
    assert (await a.next(ws.ErrorEvent)).ref == "other-room"
    # Bob, outside any room, cannot offer to Alice.
    await b.send(offer(channel.channel_id, alice, call_id="outsider"))
    assert (await b.next(ws.ErrorEvent)).ref == "outsider"
    for client in (a, b, c):
        assert await client.quiet(ws.WebRtcOfferRelayed, within=0.1)


async def test_disconnecting_leaves_the_room(api: ApiClient, server: RunningServer) -> None:
    """A device whose connection ends is taken out of its room and the room hears it."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    for client in (a, b):
        await client.send(ws.VoiceJoin(channel_id=channel.channel_id))
        await client.next(ws.VoiceRoster)
    await b.close()
    left = await a.next(ws.VoicePresence, change=ws.VoiceChange.LEFT)
    assert left.participant.device_id == bob.device.device_id
    await a.send(offer(channel.channel_id, bob))
    assert (await a.next(ws.ErrorEvent)).code == ErrorCode.FORBIDDEN


async def test_a_reconnected_device_keeps_its_seat_when_the_old_socket_closes(
    api: ApiClient, server: RunningServer
) -> None:
    """Joining again from a new connection of the same device moves the seat to it: the old
    connection closing afterwards does not take the device out of the room."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    observer = await WsClient.connect(api, alice)
    old = await WsClient.connect(api, bob)
    await old.send(ws.VoiceJoin(channel_id=channel.channel_id))
    await old.next(ws.VoiceRoster)
    new = await WsClient.connect(api, bob)
    await new.send(ws.VoiceJoin(channel_id=channel.channel_id))
    roster = await new.next(ws.VoiceRoster)
    assert [p.device_id for p in roster.participants] == [bob.device.device_id]
    await old.close()
    assert await observer.quiet(ws.VoicePresence, change=ws.VoiceChange.LEFT, within=0.5)
    await observer.send(ws.VoiceJoin(channel_id=channel.channel_id))
    roster = await observer.next(ws.VoiceRoster)
    assert {p.user_id for p in roster.participants} == {alice.user_id, bob.user_id}
