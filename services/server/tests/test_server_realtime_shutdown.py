"""Graceful shutdown: messages in flight are stored, acknowledged and delivered, then every client
is told to reconnect and closed with GOING_AWAY; new connections are refused meanwhile."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from dialtone.server.keys import STORAGE_KEY
from dialtone.server.realtime.testing import WsClient
from dialtone.server.testing import (
    ApiClient,
    StartServer,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import ws
from dialtone.wire.common import ErrorCode


async def test_shutdown_drains_in_flight_messages_then_sends_clients_away(
    api: ApiClient, start_server: StartServer
) -> None:
    """Each message sent before the shutdown is either acked and delivered, or refused with
    `unavailable` (to be resent); clients get `server.going_away` and a 1001 close."""
    server = await start_server()
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None
    alice, bob = [await register_user(api, admin) for _ in range(2)]
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    ids = [await a.send_message(channel.channel_id) for _ in range(150)]
    stopping = asyncio.ensure_future(server.stop())
    assert await a.closed(within=30) == ws.CloseCode.GOING_AWAY
    assert await b.closed(within=30) == ws.CloseCode.GOING_AWAY
    await stopping
    acks = {e.client_msg_id: e.seq for e in a.inbox if isinstance(e, ws.MessageAck)}
    refused = {e.ref for e in a.inbox if isinstance(e, ws.ErrorEvent)}
    assert all(e.code == ErrorCode.UNAVAILABLE for e in a.inbox if isinstance(e, ws.ErrorEvent))
    print(len(acks), len(refused), len(ids), [type(e).__name__ for e in a.inbox][-5:], a.inbox[-3:])
    assert set(acks) | refused == set(ids)
    assert not set(acks) & refused
    assert sorted(acks.values()) == list(range(1, len(acks) + 1))
    delivered = [e.message.seq for e in b.inbox if isinstance(e, ws.MessageNew)]
    assert delivered == sorted(acks.values())
    for client in (a, b):
        notices = [e for e in client.inbox if isinstance(e, ws.GoingAway)]
        assert len(notices) == 1
        assert client.inbox[-1] == notices[0]
    # Nothing acknowledged was lost: a new server on the same database has exactly those.
    again = await start_server()
    stored = await again.app[STORAGE_KEY].messages.since(channel.channel_id, 0, limit=200)
    assert {m.client_msg_id: m.seq for m in stored} == acks


async def test_no_new_connections_during_shutdown(
    api: ApiClient, start_server: StartServer
) -> None:
    """Once shutdown has begun, an upgrade is refused with 503 instead of accepted and dropped."""
    server = await start_server()
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None
    alice = await register_user(api, admin)
    connected = await WsClient.connect(api, alice)
    from dialtone.server.realtime.wiring import HUB_KEY

    server.app[HUB_KEY].hub.begin_shutdown()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect(alice.token)
    assert refused.value.status == 503
    await connected.close()
