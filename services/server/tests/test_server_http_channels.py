"""Channels, members, key envelopes, rotation, history, read markers, directory, presence, TURN."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest

from dialtone.server.keys import STORAGE_KEY
from dialtone.server.storage.records import NewMessage
from dialtone.server.testing import (
    ApiCallError,
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


async def _users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


def _name(user: TestUser, epoch: int = 1, text: bytes = b"sealed-name") -> http.ChannelName:
    return http.ChannelName(
        key_epoch=epoch, device_id=user.device.device_id, sealed_name=text, signature=b"s" * 64
    )


async def _post_messages(server: RunningServer, channel_id: str, user: TestUser, n: int) -> None:
    storage = server.app[STORAGE_KEY]
    for i in range(n):
        await storage.messages.append(
            NewMessage(
                channel_id=channel_id,
                client_msg_id=f"m{i}",
                sender_user_id=user.user_id,
                sender_device_id=user.device.device_id,
                key_epoch=1,
                sealed_body=b"b" * 40,
                sealed_sender_name=b"n" * 20,
                signature=b"s" * 64,
            ),
            now=datetime.now(UTC),
        )


async def test_create_list_get_rename_delete(api: ApiClient, server: RunningServer) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    assert channel.role is Role.OWNER
    assert channel.current_epoch == 1
    assert channel.last_seq == 0
    listed = await api.call("GET", "/v1/channels", http.ChannelListResponse, token=alice.token)
    assert [c.channel_id for c in listed.channels] == [channel.channel_id]
    assert (
        await api.call("GET", "/v1/channels", http.ChannelListResponse, token=bob.token)
    ).channels == ()
    renamed = await api.call(
        "PATCH",
        f"/v1/channels/{channel.channel_id}",
        http.ChannelInfo,
        body=http.ChannelRenameRequest(name=_name(alice, text=b"new-sealed-name")),
        token=alice.token,
    )
    assert renamed.name.sealed_name == b"new-sealed-name"
    assert server.events.of_type(ws.ChannelUpdated)[-1].name.sealed_name == b"new-sealed-name"
    fetched = await api.call(
        "GET", f"/v1/channels/{channel.channel_id}", http.ChannelInfo, token=alice.token
    )
    assert fetched == renamed
    await api.call_no_content("DELETE", f"/v1/channels/{channel.channel_id}", token=alice.token)
    status, _ = await api.raw("GET", f"/v1/channels/{channel.channel_id}", token=alice.token)
    assert status == 404
    assert server.events.of_type(ws.ChannelDeleted)[0].channel_id == channel.channel_id


async def test_create_refuses_reused_id_foreign_envelopes_and_wrong_epoch(
    api: ApiClient, server: RunningServer
) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    again = http.ChannelCreateRequest(
        channel_id=channel.channel_id,
        name=_name(alice),
        envelopes=(envelope_for(alice.device.device_id),),
    )
    with pytest.raises(ApiCallError) as taken:
        await api.call("POST", "/v1/channels", http.ChannelInfo, body=again, token=alice.token)
    assert taken.value.code == "conflict"
    foreign = http.ChannelCreateRequest(
        channel_id=str(uuid.uuid4()),
        name=_name(alice),
        envelopes=(envelope_for(bob.device.device_id),),
    )
    wrong_epoch = http.ChannelCreateRequest(
        channel_id=str(uuid.uuid4()),
        name=_name(alice, epoch=2),
        envelopes=(envelope_for(alice.device.device_id),),
    )
    for body in (foreign, wrong_epoch):
        with pytest.raises(ApiCallError) as refused:
            await api.call("POST", "/v1/channels", http.ChannelInfo, body=body, token=alice.token)
        assert refused.value.status == 400


async def test_members_roles_and_removal_rules(api: ApiClient, server: RunningServer) -> None:
    owner, admin, member, outsider = await _users(api, server, 4)
    channel = await create_channel(api, owner)
    await add_member(api, channel, owner, admin, Role.ADMIN)
    await add_member(api, channel, admin, member)
    listed = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/members",
        http.MemberListResponse,
        token=member.token,
    )
    assert {(m.user_id, m.role) for m in listed.members} == {
        (owner.user_id, Role.OWNER),
        (admin.user_id, Role.ADMIN),
        (member.user_id, Role.MEMBER),
    }
    # An admin may not add admins; nobody adds owners; a plain member adds nobody.
    for by, role in ((admin, Role.ADMIN), (owner, Role.OWNER), (member, Role.MEMBER)):
        with pytest.raises(ApiCallError) as refused:
            await add_member(api, channel, by, outsider, role)
        assert refused.value.status == 403
    with pytest.raises(ApiCallError) as twice:
        await add_member(api, channel, owner, member)
    assert twice.value.code == "conflict"
    # Admins remove members, not owners; the last owner cannot leave.
    path = f"/v1/channels/{channel.channel_id}/members"
    assert (await api.raw("DELETE", f"{path}/{owner.user_id}", token=admin.token))[0] == 403
    assert (await api.raw("DELETE", f"{path}/{owner.user_id}", token=owner.token))[0] == 409
    await api.call_no_content("DELETE", f"{path}/{member.user_id}", token=admin.token)
    removed = server.events.of_type(ws.MemberRemoved)[-1]
    assert (removed.user_id, removed.removed_by) == (member.user_id, admin.user_id)
    assert (await api.raw("GET", path, token=member.token))[0] == 404
    # The owner promotes the admin, who may then leave the ownerless... no: the owner leaves.
    promoted = await api.call(
        "PATCH",
        f"{path}/{admin.user_id}",
        http.MemberInfo,
        body=http.MemberUpdateRequest(role=Role.OWNER),
        token=owner.token,
    )
    assert promoted.role is Role.OWNER
    await api.call_no_content("DELETE", f"{path}/{owner.user_id}", token=owner.token)
    demote_last = await api.raw(
        "PATCH",
        f"{path}/{admin.user_id}",
        body=http.MemberUpdateRequest(role=Role.MEMBER),
        token=admin.token,
    )
    assert demote_last[0] == 409


async def test_envelopes_and_rotation(api: ApiClient, server: RunningServer) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    mine = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/envelopes",
        http.EnvelopeListResponse,
        token=bob.token,
    )
    assert [(e.key_epoch, e.sender_device_id) for e in mine.envelopes] == [
        (1, alice.device.device_id)
    ]
    rotated = await api.call(
        "POST",
        f"/v1/channels/{channel.channel_id}/rotate",
        http.KeyRotateResponse,
        body=http.KeyRotateRequest(
            new_epoch=2,
            envelopes=(envelope_for(alice.device.device_id), envelope_for(bob.device.device_id)),
            name=_name(bob, epoch=2),
        ),
        token=bob.token,
    )
    assert rotated.key_epoch == 2
    assert server.events.of_type(ws.KeyRotated)[-1].key_epoch == 2
    stale = await api.raw(
        "POST",
        f"/v1/channels/{channel.channel_id}/rotate",
        body=http.KeyRotateRequest(new_epoch=2, envelopes=(envelope_for(bob.device.device_id),)),
        token=alice.token,
    )
    assert stale[0] == 409
    assert b"stale_epoch" in stale[1]
    epoch_two = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/envelopes",
        http.EnvelopeListResponse,
        token=alice.token,
        params={"epoch": "2"},
    )
    assert [e.key_epoch for e in epoch_two.envelopes] == [2]
    everything = await api.call(
        "GET", "/v1/envelopes", http.EnvelopeListResponse, token=alice.token
    )
    assert sorted(e.key_epoch for e in everything.envelopes) == [1, 2]
    # Re-sending an old epoch's envelope is allowed; a future epoch is not.
    posted = await api.call(
        "POST",
        f"/v1/channels/{channel.channel_id}/envelopes",
        http.EnvelopePostResponse,
        body=http.EnvelopePostRequest(key_epoch=1, envelopes=(envelope_for(bob.device.device_id),)),
        token=alice.token,
    )
    assert posted.stored == 1
    assert server.events.of_type(ws.EnvelopeAvailable)
    future = await api.raw(
        "POST",
        f"/v1/channels/{channel.channel_id}/envelopes",
        body=http.EnvelopePostRequest(key_epoch=3, envelopes=(envelope_for(bob.device.device_id),)),
        token=alice.token,
    )
    assert future[0] == 409


async def test_history_pagination_read_marker_and_sync(
    api: ApiClient, server: RunningServer
) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    await _post_messages(server, channel.channel_id, alice, 25)
    path = f"/v1/channels/{channel.channel_id}/messages"
    newest = await api.call("GET", path, http.MessagePage, token=bob.token, params={"limit": "10"})
    assert [m.seq for m in newest.messages] == list(range(16, 26))
    assert newest.has_more
    seen: list[int] = [m.seq for m in newest.messages]
    cursor = newest.messages[0].seq
    while True:
        page = await api.call(
            "GET",
            path,
            http.MessagePage,
            token=bob.token,
            params={"before": str(cursor), "limit": "10"},
        )
        seen = [m.seq for m in page.messages] + seen
        if not page.has_more:
            break
        cursor = page.messages[0].seq
    assert seen == list(range(1, 26))
    since = await api.call("GET", path, http.MessagePage, token=bob.token, params={"after": "20"})
    assert [m.seq for m in since.messages] == [21, 22, 23, 24, 25]
    assert not since.has_more
    assert since.messages[0].sender_user_id == alice.user_id
    for bad in ({"limit": "201"}, {"limit": "0"}, {"after": "-1"}, {"cursor": "3"}):
        status, body = await api.raw("GET", path, token=bob.token, params=bad)
        assert status == 400, (bad, body)
    await api.call_no_content(
        "PUT",
        f"/v1/channels/{channel.channel_id}/read",
        body=http.ReadMarkerRequest(seq=12),
        token=bob.token,
    )
    info = await api.call(
        "GET", f"/v1/channels/{channel.channel_id}", http.ChannelInfo, token=bob.token
    )
    assert (info.read_seq, info.last_seq) == (12, 25)
    synced = await api.call("GET", "/v1/sync", http.SyncResponse, token=bob.token)
    assert [(c.channel_id, c.seq) for c in synced.cursors] == [(channel.channel_id, 25)]


async def test_channel_devices_lists_every_members_devices(
    api: ApiClient, server: RunningServer
) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    devices = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/devices",
        http.DeviceListResponse,
        token=bob.token,
    )
    assert {d.device_id for d in devices.devices} == {
        alice.device.device_id,
        bob.device.device_id,
    }


async def test_directory_profiles_and_envelopes(api: ApiClient, server: RunningServer) -> None:
    alice, bob = await _users(api, server, 2)
    profile = await api.call(
        "PUT",
        "/v1/directory/profile",
        http.ProfileInfo,
        body=http.ProfileUpdateRequest(
            key_epoch=1, sealed_display_name=b"sealed-alice", signature=b"s" * 64
        ),
        token=alice.token,
    )
    assert profile.device_id == alice.device.device_id
    found = await api.call(
        "POST",
        "/v1/directory/profiles",
        http.ProfileListResponse,
        body=http.ProfileQueryRequest(user_ids=(alice.user_id, bob.user_id)),
        token=bob.token,
    )
    assert [p.user_id for p in found.profiles] == [alice.user_id]
    assert server.events.of_type(ws.ProfileUpdated)[0].profile == profile
    stored = await api.call(
        "POST",
        "/v1/directory/envelopes",
        http.EnvelopePostResponse,
        body=http.EnvelopePostRequest(key_epoch=1, envelopes=(envelope_for(bob.device.device_id),)),
        token=alice.token,
    )
    assert stored.stored == 1
    for_bob = await api.call(
        "GET", "/v1/directory/envelopes", http.DirectoryEnvelopeListResponse, token=bob.token
    )
    assert [(e.owner_user_id, e.recipient_device_id) for e in for_bob.envelopes] == [
        (alice.user_id, bob.device.device_id)
    ]
    event = server.events.of_type(ws.DirectoryEnvelopeAvailable)[0]
    assert event.owner_user_id == alice.user_id
    unknown = await api.raw(
        "POST",
        "/v1/directory/envelopes",
        body=http.EnvelopePostRequest(key_epoch=1, envelopes=(envelope_for(str(uuid.uuid4())),)),
        token=alice.token,
    )
    assert unknown[0] == 400


async def test_presence_shows_chosen_status_only_while_connected(
    api: ApiClient, server: RunningServer
) -> None:
    alice, bob = await _users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    await api.call_no_content(
        "PUT",
        "/v1/presence",
        body=http.PresenceSetRequest(status=PresenceStatus.DND),
        token=alice.token,
    )
    changed = server.events.of_type(ws.PresenceChanged)[-1]
    assert (changed.user_id, changed.status) == (alice.user_id, PresenceStatus.DND)
    listed = await api.call(
        "GET",
        f"/v1/channels/{channel.channel_id}/presence",
        http.PresenceListResponse,
        token=bob.token,
    )
    # Nobody holds a WebSocket in this test, so everyone is offline whatever they chose.
    assert {(p.user_id, p.status) for p in listed.presence} == {
        (alice.user_id, PresenceStatus.OFFLINE),
        (bob.user_id, PresenceStatus.OFFLINE),
    }
    assert all(p.last_seen_at is not None for p in listed.presence)


async def test_turn_credentials_follow_the_coturn_rest_scheme(
    api: ApiClient, server: RunningServer
) -> None:
    (alice,) = await _users(api, server, 1)
    answer = await api.call("GET", "/v1/turn", http.TurnCredentialsResponse, token=alice.token)
    stun, turn = answer.ice_servers
    assert stun.urls == server.config.stun_urls
    assert stun.username is None
    assert turn.urls == server.config.turn_urls
    assert turn.username == f"{int(answer.expires_at.timestamp())}:{alice.user_id}"
    secret = server.config.turn_secret
    assert secret is not None
    expected = base64.b64encode(
        hmac.new(secret.encode(), turn.username.encode(), hashlib.sha1).digest()
    ).decode()
    assert turn.credential == expected
    assert answer.ttl_seconds == server.config.turn_ttl_seconds
