"""The /v1/ws handshake: authentication before the upgrade, hello, version, errors, heartbeats."""

from __future__ import annotations

import aiohttp
import pytest

from dialtone.server.clock import ManualClock
from dialtone.server.realtime.testing import WsClient
from dialtone.server.realtime.wiring import HUB_KEY
from dialtone.server.testing import ApiClient, RunningServer, StartServer, TestUser, register_user
from dialtone.wire import ws
from dialtone.wire.common import ErrorCode, Ping, Pong


async def one_user(api: ApiClient, server: RunningServer) -> TestUser:
    assert server.config.admin_token is not None
    return await register_user(api, server.config.admin_token)


@pytest.mark.parametrize("token", [None, "not-a-session-token-at-all", "x" * 300])
async def test_upgrade_without_a_valid_session_is_refused_over_http(
    api: ApiClient, server: RunningServer, token: str | None
) -> None:
    """No session, an unknown one or garbage: 401 with the JSON error, no WebSocket."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = server.base_url.replace("http", "ws", 1) + "/v1/ws"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.session.ws_connect(url, headers=headers)
    assert refused.value.status == 401


async def test_hello_gets_ready_and_an_empty_resume(api: ApiClient, server: RunningServer) -> None:
    """`ready` names the session and the timings; `resume.done` follows even with no channels."""
    user = await one_user(api, server)
    client = await WsClient.connect(api, user)
    assert client.ready is not None
    assert (client.ready.user_id, client.ready.device_id) == (
        user.user_id,
        user.device.device_id,
    )
    assert client.ready.protocol_version == 1
    assert client.ready.heartbeat_interval_ms == server.config.ws_heartbeat_seconds * 1000
    assert client.ready.idle_timeout_ms > client.ready.heartbeat_interval_ms
    assert client.resume_done == ws.ResumeDone(cursors=(), truncated=())


async def test_first_frame_must_be_hello(api: ApiClient, server: RunningServer) -> None:
    """Anything else first is answered with an error and a 4007 close."""
    user = await one_user(api, server)
    client = WsClient(await api.ws_connect(user.token), api.codec)
    await client.send(Ping(ping_id=1))
    error = await client.next(ws.ErrorEvent)
    assert error.code == ErrorCode.BAD_REQUEST
    assert await client.closed() == ws.CloseCode.HELLO_REQUIRED


async def test_no_common_protocol_version_closes_with_4002(
    api: ApiClient, server: RunningServer
) -> None:
    """A client speaking only a future version is told so and closed."""
    user = await one_user(api, server)
    client = WsClient(await api.ws_connect(user.token), api.codec)
    await client.hello(versions=(99,))
    error = await client.next(ws.ErrorEvent)
    assert error.code == ErrorCode.UNSUPPORTED_VERSION
    assert await client.closed() == ws.CloseCode.UNSUPPORTED_VERSION


async def test_silence_instead_of_hello_closes(api: ApiClient, start_server: StartServer) -> None:
    """A connection that never says hello is closed after the hello timeout."""
    server = await start_server(ws_heartbeat_seconds=0.4)
    api = ApiClient(api.session, server.base_url)
    user = await one_user(api, server)
    client = WsClient(await api.ws_connect(user.token), api.codec)
    assert await client.closed(within=5) == ws.CloseCode.HELLO_REQUIRED


async def test_bad_frames_get_errors_and_the_connection_survives(
    api: ApiClient, server: RunningServer
) -> None:
    """Malformed JSON, unknown types and binary frames are answered; the session goes on."""
    user = await one_user(api, server)
    client = await WsClient.connect(api, user)
    await client.websocket.send_str("{not json")
    await client.websocket.send_str('{"type": "no.such.event"}')
    await client.websocket.send_bytes(b"\x00\x01")
    await client.send(client.hello_event())
    errors = await client.collect(ws.ErrorEvent, 4)
    assert all(e.code == ErrorCode.BAD_REQUEST for e in errors)
    await client.send(Ping(ping_id=42))
    assert await client.next(Pong) == Pong(ping_id=42)


async def test_server_pings_and_closes_idle_clients(
    api: ApiClient, start_server: StartServer
) -> None:
    """The server pings every heartbeat; a client that never answers is closed with 4004."""
    server = await start_server(ws_heartbeat_seconds=0.3)
    api = ApiClient(api.session, server.base_url)
    user = await one_user(api, server)
    client = await WsClient.connect(api, user)
    client.answer_pings = False
    assert isinstance(await client.next(Ping, within=3), Ping)
    assert await client.closed(within=5) == ws.CloseCode.IDLE_TIMEOUT


async def test_a_client_answering_pings_stays_connected(
    api: ApiClient, start_server: StartServer
) -> None:
    """Answering each ping keeps a connection alive past several idle timeouts."""
    server = await start_server(ws_heartbeat_seconds=0.2)
    api = ApiClient(api.session, server.base_url)
    user = await one_user(api, server)
    client = await WsClient.connect(api, user)
    assert await client.quiet(ws.ErrorEvent, within=2.0)
    await client.send(Ping(ping_id=7))
    assert await client.next(Pong) == Pong(ping_id=7)


async def test_a_session_that_expires_is_closed(
    api: ApiClient, start_server: StartServer, manual_clock: ManualClock
) -> None:
    """When the session's lifetime ends the connection is closed with 4001 (log in again)."""
    server = await start_server(clock=manual_clock, ws_heartbeat_seconds=0.2)
    api = ApiClient(api.session, server.base_url)
    user = await one_user(api, server)
    client = await WsClient.connect(api, user)
    assert client.ready is not None
    assert await client.quiet(within=0.5)
    manual_clock.advance(server.config.session_ttl_seconds + 1)
    assert await client.closed(within=5) == ws.CloseCode.UNAUTHORIZED


async def test_ended_sessions_are_closed(api: ApiClient, server: RunningServer) -> None:
    """`end_sessions` (for logout) closes exactly that session's connections with 4001."""
    user, other = await one_user(api, server), await one_user(api, server)
    client = await WsClient.connect(api, user)
    bystander = await WsClient.connect(api, other)
    rt = server.app[HUB_KEY]
    (conn,) = rt.hub.connections_of(user.user_id)
    await rt.end_sessions([conn.session_id])
    assert await client.closed() == ws.CloseCode.UNAUTHORIZED
    await bystander.send(Ping(ping_id=3))
    assert await bystander.next(Pong) == Pong(ping_id=3)
