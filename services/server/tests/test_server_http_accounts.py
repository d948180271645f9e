"""Accounts, sessions, invites and devices over HTTP."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys

import pytest

from dialtone.crypto import DeviceIdentity
from dialtone.server.clock import ManualClock
from dialtone.server.testing import (
    ApiCallError,
    ApiClient,
    RunningServer,
    StartServer,
    create_invite,
    device_keys,
    register_user,
)
from dialtone.wire import http, ws
from dialtone.wire.common import DeviceInfo, DeviceStatus


async def test_register_then_login_gives_working_sessions(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin, username="Alice", password="correct horse")
    assert alice.device.device_id
    login = await api.call(
        "POST",
        "/v1/login",
        http.AuthResponse,
        body=http.LoginRequest(
            username="alice", password="correct horse", device_id=alice.device.device_id
        ),
    )
    assert login.user_id == alice.user_id
    assert login.device_status is DeviceStatus.APPROVED
    assert login.token != alice.token
    sessions = await api.call("GET", "/v1/sessions", http.SessionListResponse, token=login.token)
    assert len(sessions.sessions) == 2
    assert [s.current for s in sessions.sessions].count(True) == 1


async def test_wrong_password_unknown_user_and_foreign_device_are_invalid_credentials(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    bob = await register_user(api, admin)
    attempts = [
        (alice.username, "wrong", alice.device.device_id),
        ("nobody_here", alice.password, alice.device.device_id),
        (alice.username, alice.password, bob.device.device_id),
    ]
    for username, password, device_id in attempts:
        with pytest.raises(ApiCallError) as failure:
            await api.call(
                "POST",
                "/v1/login",
                http.AuthResponse,
                body=http.LoginRequest(username=username, password=password, device_id=device_id),
            )
        assert (failure.value.status, failure.value.code) == (401, "invalid_credentials")


async def test_register_refuses_taken_username_and_keeps_the_invite(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    await register_user(api, admin, username="carol")
    invite = await create_invite(api, admin)
    request = http.RegisterRequest(
        invite_token=invite,
        username="CAROL",  # the same after normalization
        password="pw-123456",
        device=device_keys(DeviceIdentity.generate()),
    )
    with pytest.raises(ApiCallError) as taken:
        await api.call("POST", "/v1/register", http.AuthResponse, body=request)
    assert (taken.value.status, taken.value.code) == (409, "username_taken")
    retry = http.RegisterRequest(
        invite_token=invite,
        username="carol2",
        password="pw-123456",
        device=device_keys(DeviceIdentity.generate()),
    )
    assert (await api.call("POST", "/v1/register", http.AuthResponse, body=retry)).user_id


async def test_device_id_is_derived_from_the_keys_and_keys_cannot_be_registered_twice(
    api: ApiClient, server: RunningServer
) -> None:
    """The server must not choose device ids: sealed fields and signatures are bound to them."""
    admin = server.config.admin_token
    assert admin is not None
    identity = DeviceIdentity.generate()
    first = await api.call(
        "POST",
        "/v1/register",
        http.AuthResponse,
        body=http.RegisterRequest(
            invite_token=await create_invite(api, admin),
            username="dora",
            password="pw-123456",
            device=device_keys(identity),
        ),
    )
    assert first.device_id == identity.device_id
    again = http.RegisterRequest(
        invite_token=await create_invite(api, admin),
        username="dora2",
        password="pw-123456",
        device=device_keys(identity),
    )
    with pytest.raises(ApiCallError) as reused:
        await api.call("POST", "/v1/register", http.AuthResponse, body=again)
    assert (reused.value.status, reused.value.code) == (409, "conflict")


async def test_invite_is_single_use_revocable_and_expires(
    api: ApiClient, start_server: StartServer
) -> None:
    clock = ManualClock()
    server = await start_server(clock=clock)
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None

    def request(invite: str) -> http.RegisterRequest:
        return http.RegisterRequest(
            invite_token=invite,
            username="u" + secrets.token_hex(6),
            password="pw-123456",
            device=device_keys(DeviceIdentity.generate()),
        )

    used = await create_invite(api, admin)
    await api.call("POST", "/v1/register", http.AuthResponse, body=request(used))
    revoked = await api.call(
        "POST",
        "/v1/invites",
        http.InviteCreateResponse,
        body=http.InviteCreateRequest(ttl_seconds=3600, note="for dave"),
        token=admin,
    )
    await api.call_no_content("DELETE", f"/v1/invites/{revoked.invite.invite_id}", token=admin)
    expiring = await create_invite(api, admin, ttl_seconds=60)
    clock.advance(61)
    unknown = "x" * 43
    for token in (used, revoked.token, expiring, unknown):
        with pytest.raises(ApiCallError) as failure:
            await api.call("POST", "/v1/register", http.AuthResponse, body=request(token))
        assert (failure.value.status, failure.value.code) == (403, "invalid_invite")
    listed = await api.call("GET", "/v1/invites", http.InviteListResponse, token=admin)
    by_id = {invite.invite_id: invite for invite in listed.invites}
    assert by_id[revoked.invite.invite_id].revoked_at is not None
    assert by_id[revoked.invite.invite_id].note == "for dave"
    assert sum(1 for invite in listed.invites if invite.used_by is not None) == 1


async def test_concurrent_redemptions_of_one_invite_create_exactly_one_account(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    invite = await create_invite(api, admin)
    requests = [
        http.RegisterRequest(
            invite_token=invite,
            username=f"racer{i}",
            password="pw-123456",
            device=device_keys(DeviceIdentity.generate()),
        )
        for i in range(20)
    ]
    results = await asyncio.gather(
        *(api.raw("POST", "/v1/register", body=request) for request in requests)
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [403] * 19
    listed = await api.call("GET", "/v1/invites", http.InviteListResponse, token=admin)
    assert [invite.used_by is not None for invite in listed.invites] == [True]


async def test_invites_need_the_admin_token_or_an_admin_session(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    user = await register_user(api, admin)
    for token, status in ((None, 401), ("not-the-admin-token-" + "x" * 20, 401), (user.token, 403)):
        code, _ = await api.raw("POST", "/v1/invites", body=http.InviteCreateRequest(), token=token)
        assert code == status
        code, _ = await api.raw("GET", "/v1/invites", token=token)
        assert code == status


async def test_new_device_stays_pending_until_approved(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    pending = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=alice.username,
            password=alice.password,
            device=device_keys(DeviceIdentity.generate()),
        ),
    )
    assert pending.device_status is DeviceStatus.PENDING
    # A pending device sees its account's devices, nothing else.
    own = await api.call("GET", "/v1/devices", http.DeviceListResponse, token=pending.token)
    assert {d.status for d in own.devices} == {DeviceStatus.APPROVED, DeviceStatus.PENDING}
    status, body = await api.raw("GET", "/v1/channels", token=pending.token)
    assert status == 403
    assert b"device_pending" in body
    approved = await api.call(
        "POST",
        f"/v1/devices/{pending.device_id}/approve",
        DeviceInfo,
        body=http.DeviceApproveRequest(approval_signature=b"s" * 64),
        token=alice.token,
    )
    assert approved.status is DeviceStatus.APPROVED
    assert approved.approved_by == alice.device.device_id
    channels = await api.call("GET", "/v1/channels", http.ChannelListResponse, token=pending.token)
    assert channels.channels == ()
    joined = server.events.of_type(ws.DeviceJoined)
    assert [event.device.status for event in joined] == [
        DeviceStatus.PENDING,
        DeviceStatus.APPROVED,
    ]


async def test_a_pending_device_cannot_approve_itself_or_others(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    pending = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=alice.username,
            password=alice.password,
            device=device_keys(DeviceIdentity.generate()),
        ),
    )
    status, _ = await api.raw(
        "POST",
        f"/v1/devices/{pending.device_id}/approve",
        body=http.DeviceApproveRequest(approval_signature=b"s" * 64),
        token=pending.token,
    )
    assert status == 403


async def test_revoked_device_loses_its_sessions_and_cannot_log_in(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    second = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=alice.username,
            password=alice.password,
            device=device_keys(DeviceIdentity.generate()),
        ),
    )
    await api.call_no_content("DELETE", f"/v1/devices/{second.device_id}", token=alice.token)
    status, _ = await api.raw("GET", "/v1/devices", token=second.token)
    assert status == 401
    with pytest.raises(ApiCallError) as failure:
        await api.call(
            "POST",
            "/v1/login",
            http.AuthResponse,
            body=http.LoginRequest(
                username=alice.username, password=alice.password, device_id=second.device_id
            ),
        )
    assert failure.value.code == "device_revoked"
    assert server.events.of_type(ws.DeviceRevoked)[0].device_id == second.device_id


async def test_logout_and_session_delete_end_sessions(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    other = await api.call(
        "POST",
        "/v1/login",
        http.AuthResponse,
        body=http.LoginRequest(
            username=alice.username, password=alice.password, device_id=alice.device.device_id
        ),
    )
    sessions = await api.call("GET", "/v1/sessions", http.SessionListResponse, token=alice.token)
    other_id = next(s.session_id for s in sessions.sessions if not s.current)
    await api.call_no_content("DELETE", f"/v1/sessions/{other_id}", token=alice.token)
    assert (await api.raw("GET", "/v1/sessions", token=other.token))[0] == 401
    await api.call_no_content("POST", "/v1/logout", token=alice.token)
    assert (await api.raw("GET", "/v1/sessions", token=alice.token))[0] == 401


async def test_sessions_expire(api: ApiClient, start_server: StartServer) -> None:
    clock = ManualClock()
    server = await start_server(clock=clock, session_ttl_seconds=600)
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    assert (await api.raw("GET", "/v1/devices", token=alice.token))[0] == 200
    clock.advance(601)
    assert (await api.raw("GET", "/v1/devices", token=alice.token))[0] == 401


async def test_sessions_survive_a_server_restart(api: ApiClient, start_server: StartServer) -> None:
    first = await start_server()
    client = ApiClient(api.session, first.base_url)
    admin = first.config.admin_token
    assert admin is not None
    alice = await register_user(client, admin)
    await first.stop()
    second = await start_server()
    again = ApiClient(api.session, second.base_url)
    devices = await again.call("GET", "/v1/devices", http.DeviceListResponse, token=alice.token)
    assert [d.device_id for d in devices.devices] == [alice.device.device_id]


async def test_lookup_by_username_and_user_devices(api: ApiClient, server: RunningServer) -> None:
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin, username="Erin")
    bob = await register_user(api, admin)
    found = await api.call(
        "POST",
        "/v1/users/lookup",
        http.UserInfo,
        body=http.UserLookupRequest(username="erin"),
        token=bob.token,
    )
    assert found.user_id == alice.user_id
    assert [d.device_id for d in found.devices] == [alice.device.device_id]
    devices = await api.call(
        "GET", f"/v1/users/{alice.user_id}/devices", http.DeviceListResponse, token=bob.token
    )
    assert devices.devices == found.devices
    status, _ = await api.raw(
        "POST", "/v1/users/lookup", body=http.UserLookupRequest(username="ghost"), token=bob.token
    )
    assert status == 404


async def test_an_admin_session_manages_invites_after_cli_grant(
    api: ApiClient, server: RunningServer
) -> None:
    admin = server.config.admin_token
    pepper = server.config.username_pepper
    assert admin is not None
    assert pepper is not None
    alice = await register_user(api, admin, username="Grace")
    assert (await api.raw("GET", "/v1/invites", token=alice.token))[0] == 403
    env = {
        **os.environ,
        "DIALTONE_DB_URL": server.config.db_url or "",
        "DIALTONE_USERNAME_PEPPER": pepper.decode(),
    }
    granted = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dialtone.server", "admin", "grant", "grace"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    assert alice.user_id in granted.stdout
    created = await api.call(
        "POST",
        "/v1/invites",
        http.InviteCreateResponse,
        body=http.InviteCreateRequest(ttl_seconds=600),
        token=alice.token,
    )
    assert created.invite.created_by == alice.user_id
    login = await api.call(
        "POST",
        "/v1/login",
        http.AuthResponse,
        body=http.LoginRequest(
            username="grace", password=alice.password, device_id=alice.device.device_id
        ),
    )
    assert login.is_admin
