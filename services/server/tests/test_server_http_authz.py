"""The authorization matrix: every channel route for owner, admin, member, non-member, revoked
device, anonymous; and a non-member learns nothing (same 404 as for a channel that does not exist).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

from dialtone.crypto import DeviceIdentity
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    TestUser,
    add_member,
    create_channel,
    device_keys,
    envelope_for,
    register_user,
)
from dialtone.wire import http
from dialtone.wire.common import Role

ROLES = ("anonymous", "revoked", "outsider", "member", "admin", "owner")


@attrs.define
class World:
    api: ApiClient
    admin_token: str
    channel: http.ChannelInfo
    users: dict[str, TestUser]
    tokens: dict[str, str | None]

    async def current(self) -> http.ChannelInfo:
        return await self.api.call(
            "GET",
            f"/v1/channels/{self.channel.channel_id}",
            http.ChannelInfo,
            token=self.users["owner"].token,
        )


async def _world(api: ApiClient, server: RunningServer) -> World:
    admin_token = server.config.admin_token
    assert admin_token is not None
    users = {role: await register_user(api, admin_token) for role in ("owner", "admin", "member")}
    users["outsider"] = await register_user(api, admin_token)
    channel = await create_channel(api, users["owner"])
    await add_member(api, channel, users["owner"], users["admin"], Role.ADMIN)
    await add_member(api, channel, users["owner"], users["member"])
    await create_channel(api, users["outsider"])  # has channels of their own
    # A member's second device, approved and then revoked: its token must stop working.
    extra = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=users["member"].username,
            password=users["member"].password,
            device=device_keys(DeviceIdentity.generate()),
        ),
    )
    await api.call_no_content(
        "DELETE", f"/v1/devices/{extra.device_id}", token=users["member"].token
    )
    tokens: dict[str, str | None] = {role: user.token for role, user in users.items()}
    tokens["revoked"] = extra.token
    tokens["anonymous"] = None
    return World(api=api, admin_token=admin_token, channel=channel, users=users, tokens=tokens)


Body = Callable[[World, str], Awaitable[Any]]


async def _none(world: World, role: str) -> None:
    return None


async def _rename(world: World, role: str) -> Any:
    user = world.users.get(role, world.users["owner"])
    current = await world.current()
    return http.ChannelRenameRequest(
        name=http.ChannelName(
            key_epoch=current.current_epoch,
            device_id=user.device.device_id,
            sealed_name=b"n" * 32,
            signature=b"s" * 64,
        )
    )


async def _add_member(world: World, role: str) -> Any:
    newcomer = await register_user(world.api, world.admin_token)
    return http.MemberAddRequest(
        user_id=newcomer.user_id,
        role=Role.MEMBER,
        key_epoch=(await world.current()).current_epoch,
        envelopes=(envelope_for(newcomer.device.device_id),),
    )


async def _set_role(world: World, role: str) -> Any:
    return http.MemberUpdateRequest(role=Role.MEMBER)


async def _envelopes(world: World, role: str) -> Any:
    return http.EnvelopePostRequest(
        key_epoch=1, envelopes=(envelope_for(world.users["member"].device.device_id),)
    )


async def _rotate(world: World, role: str) -> Any:
    current = await world.current()
    return http.KeyRotateRequest(
        new_epoch=current.current_epoch + 1,
        envelopes=tuple(
            envelope_for(world.users[r].device.device_id) for r in ("owner", "admin", "member")
        ),
    )


async def _read(world: World, role: str) -> Any:
    return http.ReadMarkerRequest(seq=0)


MEMBERS_OK = {"owner": 200, "admin": 200, "member": 200}
CASES: list[tuple[str, str, Body, dict[str, int]]] = [
    ("GET", "", _none, MEMBERS_OK),
    ("GET", "/members", _none, MEMBERS_OK),
    ("GET", "/devices", _none, MEMBERS_OK),
    ("GET", "/envelopes", _none, MEMBERS_OK),
    ("GET", "/messages", _none, MEMBERS_OK),
    ("GET", "/presence", _none, MEMBERS_OK),
    ("PATCH", "", _rename, {"owner": 200, "admin": 200, "member": 403}),
    ("POST", "/members", _add_member, {"owner": 201, "admin": 201, "member": 403}),
    ("PATCH", "/members/{member}", _set_role, {"owner": 200, "admin": 403, "member": 403}),
    ("POST", "/envelopes", _envelopes, MEMBERS_OK),
    ("POST", "/rotate", _rotate, MEMBERS_OK),
    ("PUT", "/read", _read, {"owner": 204, "admin": 204, "member": 204}),
    ("DELETE", "/members/{member}", _none, {"owner": 204, "admin": 204, "member": 204}),
    ("DELETE", "", _none, {"owner": 204, "admin": 403, "member": 403}),
]


@pytest.mark.parametrize(("method", "suffix", "body", "allowed"), CASES)
async def test_channel_route_authorization(
    api: ApiClient,
    server: RunningServer,
    method: str,
    suffix: str,
    body: Body,
    allowed: dict[str, int],
) -> None:
    world = await _world(api, server)
    expected = {"anonymous": 401, "revoked": 401, "outsider": 404, **allowed}
    leaving = method == "DELETE" and suffix.startswith("/members")
    if leaving:
        # The last owner cannot leave: give the channel a second owner first.
        co_owner = await register_user(api, world.admin_token)
        await add_member(api, world.channel, world.users["owner"], co_owner)
        await api.call(
            "PATCH",
            f"/v1/channels/{world.channel.channel_id}/members/{co_owner.user_id}",
            http.MemberInfo,
            body=http.MemberUpdateRequest(role=Role.OWNER),
            token=world.users["owner"].token,
        )
    seen: dict[str, int] = {}
    for role in ROLES:
        if leaving and role in MEMBERS_OK:
            # Each member removes only themselves (leaving), the one removal anyone may do.
            path_suffix = f"/members/{world.users[role].user_id}"
        else:
            path_suffix = suffix.replace("{member}", world.users["member"].user_id)
        status, _ = await api.raw(
            method,
            f"/v1/channels/{world.channel.channel_id}{path_suffix}",
            body=await body(world, role),
            token=world.tokens[role],
        )
        seen[role] = status
    assert seen == expected


@pytest.mark.parametrize(("method", "suffix", "body", "allowed"), CASES)
async def test_non_member_gets_the_same_answer_as_for_a_missing_channel(
    api: ApiClient,
    server: RunningServer,
    method: str,
    suffix: str,
    body: Body,
    allowed: dict[str, int],
) -> None:
    world = await _world(api, server)
    outsider = world.tokens["outsider"]
    path_suffix = suffix.replace("{member}", world.users["member"].user_id)
    request_body = await body(world, "outsider")
    real = await api.raw(
        method,
        f"/v1/channels/{world.channel.channel_id}{path_suffix}",
        body=request_body,
        token=outsider,
    )
    missing = await api.raw(
        method, f"/v1/channels/{uuid.uuid4()}{path_suffix}", body=request_body, token=outsider
    )
    malformed = await api.raw(
        method, f"/v1/channels/not-a-uuid{path_suffix}", body=request_body, token=outsider
    )
    assert real == missing == malformed
    assert real[0] == 404


async def test_global_routes_need_a_session(api: ApiClient, server: RunningServer) -> None:
    world = await _world(api, server)
    routes = [
        ("GET", "/v1/channels"),
        ("GET", "/v1/envelopes"),
        ("GET", "/v1/sync"),
        ("GET", "/v1/turn"),
        ("GET", "/v1/devices"),
        ("GET", "/v1/sessions"),
        ("GET", "/v1/directory/envelopes"),
        ("POST", "/v1/logout"),
    ]
    for method, path in routes:
        for role in ("anonymous", "revoked"):
            status, _ = await api.raw(method, path, token=world.tokens[role])
            assert status == 401, (method, path, role)
        status, _ = await api.raw(method, path, token="garbage-token-" + "x" * 30)
        assert status == 401


async def test_other_users_devices_cannot_be_approved_or_revoked(
    api: ApiClient, server: RunningServer
) -> None:
    world = await _world(api, server)
    target = world.users["member"].device.device_id
    for role in ("owner", "outsider"):
        approve = await api.raw(
            "POST",
            f"/v1/devices/{target}/approve",
            body=http.DeviceApproveRequest(approval_signature=b"s" * 64),
            token=world.tokens[role],
        )
        revoke = await api.raw("DELETE", f"/v1/devices/{target}", token=world.tokens[role])
        assert approve[0] == revoke[0] == 404
    sessions = await api.call(
        "GET", "/v1/sessions", http.SessionListResponse, token=world.tokens["member"]
    )
    foreign = sessions.sessions[0].session_id
    status, _ = await api.raw("DELETE", f"/v1/sessions/{foreign}", token=world.tokens["owner"])
    assert status == 404
