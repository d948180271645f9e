"""Ending a session or a device ends its WebSocket connections, with a close code the client
reliably reads: 4001 after a logout or a session deletion, 4005 after a revocation. Also: a new
device waiting for approval is announced to the user's own connected devices."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import aiohttp
import pytest

from dialtone.crypto import DeviceIdentity
from dialtone.server.realtime.testing import WsClient, add_device
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    TestUser,
    add_member,
    create_channel,
    device_keys,
    register_user,
)
from dialtone.wire import http, ws
from dialtone.wire.common import DeviceInfo, DeviceStatus, Ping, Pong

REVOCATION_ROUNDS = 10


async def users(api: ApiClient, server: RunningServer, count: int) -> list[TestUser]:
    admin = server.config.admin_token
    assert admin is not None
    return [await register_user(api, admin) for _ in range(count)]


async def login(api: ApiClient, user: TestUser) -> http.AuthResponse:
    """Open another session for the user's first device."""
    return await api.call(
        "POST",
        "/v1/login",
        http.AuthResponse,
        body=http.LoginRequest(
            username=user.username, password=user.password, device_id=user.device.device_id
        ),
    )


async def still_open(client: WsClient, ping_id: int) -> bool:
    """Whether the connection still answers a ping."""
    await client.send(Ping(ping_id=ping_id))
    return await client.next(Pong, ping_id=ping_id) == Pong(ping_id=ping_id)


async def test_logout_closes_that_sessions_connections_and_no_others(
    api: ApiClient, server: RunningServer
) -> None:
    """Right after `POST /v1/logout`, the session's socket is closed with 4001 (the client reads
    the code, no reset); the user's other session and another user's socket stay open."""
    alice, bob = await users(api, server, 2)
    second = await login(api, alice)
    logged_out = await WsClient.connect(api, alice)
    other_session = await WsClient.connect(api, alice, token=second.token)
    bystander = await WsClient.connect(api, bob)
    await api.call_no_content("POST", "/v1/logout", token=alice.token)
    assert await logged_out.closed(within=2) == ws.CloseCode.UNAUTHORIZED
    assert logged_out.websocket.close_code == ws.CloseCode.UNAUTHORIZED
    assert await still_open(other_session, 1)
    assert await still_open(bystander, 2)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect(alice.token)
    assert refused.value.status == 401
    assert len(server.events.ended_sessions) == 1


async def test_a_logout_between_upgrade_and_hello_still_closes_the_connection(
    api: ApiClient, server: RunningServer
) -> None:
    """A socket authenticated before the logout but saying hello after it is not let in: it is
    closed with 4001 instead of going live."""
    (alice,) = await users(api, server, 1)
    client = WsClient(await api.ws_connect(alice.token), api.codec, alice)
    await api.call_no_content("POST", "/v1/logout", token=alice.token)
    await client.hello()
    assert await client.closed(within=5) == ws.CloseCode.UNAUTHORIZED
    assert not any(isinstance(event, ws.ResumeDone) for event in client.inbox)


async def test_a_revocation_between_upgrade_and_hello_still_closes_the_connection(
    api: ApiClient, server: RunningServer
) -> None:
    """Likewise a device revoked after its upgrade and before its hello gets 4005."""
    (alice,) = await users(api, server, 1)
    device = await add_device(api, alice)
    client = WsClient(await api.ws_connect(device.token), api.codec, alice)
    await api.call_no_content("DELETE", f"/v1/devices/{device.device_id}", token=alice.token)
    await client.hello()
    assert await client.closed(within=5) == ws.CloseCode.DEVICE_REVOKED
    assert not any(isinstance(event, ws.ResumeDone) for event in client.inbox)


async def test_deleting_a_session_closes_its_connections(
    api: ApiClient, server: RunningServer
) -> None:
    """`DELETE /v1/sessions/{id}` from another session closes the deleted session's sockets with
    4001; the deleting session's socket stays open."""
    (alice,) = await users(api, server, 1)
    second, third = await login(api, alice), await login(api, alice)
    doomed = await WsClient.connect(api, alice, token=second.token)
    keeper = await WsClient.connect(api, alice, token=third.token)
    sessions = await api.call("GET", "/v1/sessions", http.SessionListResponse, token=second.token)
    (doomed_id,) = [s.session_id for s in sessions.sessions if s.current]
    await api.call_no_content("DELETE", f"/v1/sessions/{doomed_id}", token=third.token)
    assert await doomed.closed(within=2) == ws.CloseCode.UNAUTHORIZED
    assert await still_open(keeper, 1)
    assert server.events.ended_sessions == [doomed_id]


async def _chatter(websocket: aiohttp.ClientWebSocketResponse, codec_frame: str) -> None:
    # Keeps writing while the server closes: the case where an early socket close used to turn
    # the close code into a reset (1006) on the client.
    with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
        while not websocket.closed:
            await websocket.send_str(codec_frame)
            await asyncio.sleep(0.002)


async def test_a_revoked_device_always_reads_4005(api: ApiClient, server: RunningServer) -> None:
    """Revocation, repeated: the revoked device (a real aiohttp client with its own heartbeat,
    writing all the while) always gets `device.revoked` and then the close frame with 4005, and
    aiohttp reports 4005 as the close code; the user's other device stays connected."""
    (alice,) = await users(api, server, 1)
    witness = await WsClient.connect(api, alice)
    hello = api.codec.encode_ws(ws.Hello(protocol_versions=(1,), client="tests", resume=()))
    ping = api.codec.encode_ws(Ping(ping_id=7))
    for round_number in range(REVOCATION_ROUNDS):
        device = await add_device(api, alice)
        websocket = await api.ws_connect(device.token, heartbeat=0.2)
        await websocket.send_str(hello)
        events: list[ws.ServerEvent] = []
        while not any(isinstance(e, ws.ResumeDone) for e in events):
            events.append(api.codec.decode_ws_server(await websocket.receive_str(timeout=5)))
        chatter = asyncio.ensure_future(_chatter(websocket, ping))
        await api.call_no_content("DELETE", f"/v1/devices/{device.device_id}", token=alice.token)
        close_frame_code = None
        async with asyncio.timeout(5):
            while True:
                msg = await websocket.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    events.append(api.codec.decode_ws_server(msg.data))
                    continue
                if msg.type is aiohttp.WSMsgType.CLOSE:
                    close_frame_code = msg.data
                break
        await chatter
        revoked = [e for e in events if isinstance(e, ws.DeviceRevoked)]
        assert [e.device_id for e in revoked] == [device.device_id], round_number
        assert (close_frame_code, websocket.close_code) == (
            ws.CloseCode.DEVICE_REVOKED,
            ws.CloseCode.DEVICE_REVOKED,
        ), round_number
        assert (await witness.next(ws.DeviceRevoked)).device_id == device.device_id
    assert await still_open(witness, 1)


async def test_a_new_device_is_announced_as_pending_to_the_users_own_devices(
    api: ApiClient, server: RunningServer
) -> None:
    """`POST /v1/devices` (a new device of an existing user) makes the user's connected devices
    hear `device.joined` with status pending, so one can approve it; co-members hear of the
    device only once it is approved. The pending device cannot open a WebSocket yet."""
    alice, bob = await users(api, server, 2)
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    own, co_member = await WsClient.connect(api, bob), await WsClient.connect(api, alice)
    pending = await api.call(
        "POST",
        "/v1/devices",
        http.AuthResponse,
        body=http.DeviceAddRequest(
            username=bob.username,
            password=bob.password,
            device=device_keys(DeviceIdentity.generate()),
        ),
    )
    announced = await own.next(ws.DeviceJoined)
    assert (announced.device.device_id, announced.device.user_id) == (
        pending.device_id,
        bob.user_id,
    )
    assert announced.device.status is DeviceStatus.PENDING
    assert await co_member.quiet(ws.DeviceJoined)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect(pending.token)
    assert refused.value.status == 403
    await api.call(
        "POST",
        f"/v1/devices/{pending.device_id}/approve",
        DeviceInfo,
        body=http.DeviceApproveRequest(approval_signature=secrets.token_bytes(64)),
        token=bob.token,
    )
    for client in (own, co_member):
        approved = await client.next(ws.DeviceJoined)
        assert (approved.device.device_id, approved.device.status) == (
            pending.device_id,
            DeviceStatus.APPROVED,
        )
