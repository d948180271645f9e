"""Non-message events over /v1/ws: typing, read markers, presence, channel and membership changes,
key rotation, envelopes, device revocation. HTTP changes reach WebSocket clients; non-members
hear nothing."""

from __future__ import annotations

import secrets

from dialtone.server.realtime.testing import WsClient, add_device
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    TestUser,
    add_member,
    create_channel,
    envelope_for,
    register_user,
)
from dialtone.wire import http, ws
from dialtone.wire.common import PresenceStatus, Role


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


async def test_typing_reaches_the_other_members_only(api: ApiClient, server: RunningServer) -> None:
    """Typing goes to the channel's other members, not back to the typist nor to outsiders;
    repeats within the typing interval are folded into one."""
    alice, bob, mallory = await users(api, server, 3)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b, m = [await WsClient.connect(api, u) for u in (alice, bob, mallory)]
    for _ in range(3):
        await a.send(ws.TypingStart(channel_id=channel.channel_id))
    typing = await b.next(ws.Typing)
    assert (typing.channel_id, typing.user_id) == (channel.channel_id, alice.user_id)
    assert await b.quiet(ws.Typing)
    assert await a.quiet(ws.Typing, within=0.05)
    assert await m.quiet(ws.Typing, within=0.05)
    await m.send(ws.TypingStart(channel_id=channel.channel_id))
    assert (await m.next(ws.ErrorEvent)).code == "forbidden"
    assert await b.quiet(ws.Typing, within=0.1)


async def test_read_marker_is_stored_and_synced_to_the_users_other_devices(
    api: ApiClient, server: RunningServer
) -> None:
    """A read marker set on one device reaches the user's other devices, not other users."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    phone = await WsClient.connect(api, alice)
    laptop = await WsClient.connect(api, alice, token=(await add_device(api, alice)).token)
    b = await WsClient.connect(api, bob)
    await phone.send_message(channel.channel_id)
    ack = await phone.next(ws.MessageAck)
    await phone.send(ws.ReadMarkSet(channel_id=channel.channel_id, seq=ack.seq))
    marker = await laptop.next(ws.ReadMarker)
    assert (marker.channel_id, marker.seq) == (channel.channel_id, ack.seq)
    assert await phone.quiet(ws.ReadMarker)
    assert await b.quiet(ws.ReadMarker, within=0.05)


async def test_presence_follows_connections_and_chosen_status(
    api: ApiClient, server: RunningServer
) -> None:
    """Co-members see a user come online, change status and go offline; HTTP agrees."""
    alice, bob, mallory = await users(api, server, 3)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a = await WsClient.connect(api, alice)
    m = await WsClient.connect(api, mallory)
    b = await WsClient.connect(api, bob)
    online = await a.next(ws.PresenceChanged, user_id=bob.user_id)
    assert online.status is PresenceStatus.ONLINE
    listed = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/presence",
        http.PresenceListResponse,
        token=alice.token,
    )
    assert {p.user_id: p.status for p in listed.presence}[bob.user_id] is PresenceStatus.ONLINE
    await b.send(ws.PresenceSet(status=PresenceStatus.DND))
    assert (await a.next(ws.PresenceChanged, user_id=bob.user_id)).status is PresenceStatus.DND
    await b.close()
    offline = await a.next(ws.PresenceChanged, user_id=bob.user_id)
    assert offline.status is PresenceStatus.OFFLINE
    assert offline.last_seen_at is not None
    assert await m.quiet(ws.PresenceChanged, within=0.05)


async def test_invisible_users_are_not_announced(api: ApiClient, server: RunningServer) -> None:
    """A user whose chosen status is `offline` connects without anyone being told."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    await api.call_no_content(
        "PUT",
        "/v1/presence",
        body=http.PresenceSetRequest(status=PresenceStatus.OFFLINE),
        token=bob.token,
    )
    a = await WsClient.connect(api, alice)
    b = await WsClient.connect(api, bob)
    assert await a.quiet(ws.PresenceChanged, user_id=bob.user_id)
    await b.close()


async def test_channel_changes_made_over_http_reach_members(
    api: ApiClient, server: RunningServer
) -> None:
    """Rename, member add (which subscribes the new member at once), key rotation, envelopes."""
    alice, bob, carol, mallory = await users(api, server, 4)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b, c, m = [await WsClient.connect(api, u) for u in (alice, bob, carol, mallory)]
    sealed = secrets.token_bytes(40)
    await api.call(
        "PATCH",
        f"/v1/channels/{channel.channel_id}",
        http.ChannelInfo,
        body=http.ChannelRenameRequest(
            name=http.ChannelName(
                key_epoch=1,
                device_id=alice.device.device_id,
                sealed_name=sealed,
                signature=secrets.token_bytes(64),
            )
        ),
        token=alice.token,
    )
    for client in (a, b):
        assert (await client.next(ws.ChannelUpdated)).name.sealed_name == sealed
    await add_member(api, channel, alice, carol)
    added = await c.next(ws.MemberAdded)
    assert (added.channel_id, added.user_id) == (channel.channel_id, carol.user_id)
    assert (await b.next(ws.MemberAdded)).user_id == carol.user_id
    # Carol is subscribed without reconnecting.
    await a.send_message(channel.channel_id)
    assert (await c.next(ws.MessageNew)).message.channel_id == channel.channel_id
    await api.call(
        "POST",
        f"/v1/channels/{channel.channel_id}/rotate",
        http.KeyRotateResponse,
        body=http.KeyRotateRequest(
            new_epoch=2,
            envelopes=tuple(envelope_for(u.device.device_id) for u in (alice, bob, carol)),
        ),
        token=alice.token,
    )
    for client in (a, b, c):
        rotated = await client.next(ws.KeyRotated)
        assert (rotated.key_epoch, rotated.rotated_by) == (2, alice.device.device_id)
    await api.call(
        "POST",
        f"/v1/channels/{channel.channel_id}/envelopes",
        http.EnvelopePostResponse,
        body=http.EnvelopePostRequest(key_epoch=2, envelopes=(envelope_for(bob.device.device_id),)),
        token=alice.token,
    )
    available = await b.next(ws.EnvelopeAvailable)
    assert (available.key_epoch, available.sender_device_id) == (2, alice.device.device_id)
    assert await c.quiet(ws.EnvelopeAvailable, within=0.05, key_epoch=2)
    assert await m.quiet(within=0.1)


async def test_a_role_change_reaches_the_members_only(
    api: ApiClient, server: RunningServer
) -> None:
    """An owner's role change is announced as `channel.member.updated` to every member (the
    promoted one included) and to no outsider."""
    alice, bob, carol, mallory = await users(api, server, 4)
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c, m = [await WsClient.connect(api, u) for u in (alice, bob, carol, mallory)]
    await api.call(
        "PATCH",
        f"/v1/channels/{channel.channel_id}/members/{bob.user_id}",
        http.MemberInfo,
        body=http.MemberUpdateRequest(role=Role.ADMIN),
        token=alice.token,
    )
    for client in (a, b, c):
        updated = await client.next(ws.MemberUpdated)
        assert (updated.channel_id, updated.user_id, updated.role, updated.updated_by) == (
            channel.channel_id,
            bob.user_id,
            Role.ADMIN,
            alice.user_id,
        )
    assert await m.quiet(ws.MemberUpdated)


async def test_a_removed_member_hears_it_and_then_nothing_more(
    api: ApiClient, server: RunningServer
) -> None:
    """After removal the former member gets neither messages nor typing of the channel."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    await api.call_no_content(
        "DELETE", f"/v1/channels/{channel.channel_id}/members/{bob.user_id}", token=alice.token
    )
    assert (await b.next(ws.MemberRemoved)).user_id == bob.user_id
    assert (await a.next(ws.MemberRemoved)).user_id == bob.user_id
    await a.send_message(channel.channel_id)
    await a.next(ws.MessageAck)
    await a.send(ws.TypingStart(channel_id=channel.channel_id))
    assert await b.quiet(ws.MessageNew)
    assert await b.quiet(ws.Typing, within=0.05)
    assert await b.quiet(ws.MemberRemoved, within=0.05)


async def test_deleting_a_channel_tells_members_and_unsubscribes_them(
    api: ApiClient, server: RunningServer
) -> None:
    """Members hear `channel.deleted`; the channel is gone from their subscriptions."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    await api.call_no_content("DELETE", f"/v1/channels/{channel.channel_id}", token=alice.token)
    for client in (a, b):
        assert (await client.next(ws.ChannelDeleted)).channel_id == channel.channel_id
    await b.send(ws.TypingStart(channel_id=channel.channel_id))
    assert (await b.next(ws.ErrorEvent)).code == "forbidden"


async def test_revoking_a_device_closes_its_connections(
    api: ApiClient, server: RunningServer
) -> None:
    """The revoked device hears `device.revoked`, is closed with 4005 and cannot reconnect."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    await api.call_no_content("DELETE", f"/v1/devices/{bob.device.device_id}", token=bob.token)
    revoked = await a.next(ws.DeviceRevoked)
    assert (revoked.user_id, revoked.device_id) == (bob.user_id, bob.device.device_id)
    assert (await b.next(ws.DeviceRevoked)).device_id == bob.device.device_id
    assert await b.closed() == ws.CloseCode.DEVICE_REVOKED
    status, _ = await api.raw("GET", "/v1/channels", token=bob.token)
    assert status == 401


async def test_profile_updates_and_new_devices_reach_co_members(
    api: ApiClient, server: RunningServer
) -> None:
    """A profile change and an approved new device are announced to whoever shares a channel."""
    alice, bob, mallory = await users(api, server, 3)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, m = await WsClient.connect(api, alice), await WsClient.connect(api, mallory)
    sealed = secrets.token_bytes(30)
    await api.call(
        "PUT",
        "/v1/directory/profile",
        http.ProfileInfo,
        body=http.ProfileUpdateRequest(
            key_epoch=1, sealed_display_name=sealed, signature=secrets.token_bytes(64)
        ),
        token=bob.token,
    )
    updated = await a.next(ws.ProfileUpdated)
    assert (updated.profile.user_id, updated.profile.sealed_display_name) == (bob.user_id, sealed)
    device = await add_device(api, bob)
    joined = await a.next(ws.DeviceJoined)
    assert (joined.device.user_id, joined.device.device_id) == (bob.user_id, device.device_id)
    assert await m.quiet(ws.ProfileUpdated, within=0.1)
    assert await m.quiet(ws.DeviceJoined, within=0.05)
