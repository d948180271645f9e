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


async def test_shutdown_loses_no_message_and_sends_clients_away(
    api: ApiClient, start_server: StartServer
) -> None:
    """Every message the server read before shutting down is stored, acked and delivered; the
    rest are never acked and, resent after reconnecting, are stored exactly once. Clients get
    `server.going_away` after their acks and a 1001 close."""
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
    errors = [e for e in a.inbox if isinstance(e, ws.ErrorEvent)]
    assert all(e.code == ErrorCode.UNAVAILABLE for e in errors)
    assert sorted(acks.values()) == list(range(1, len(acks) + 1))
    delivered = [e.message.seq for e in b.inbox if isinstance(e, ws.MessageNew)]
    assert delivered == sorted(acks.values())
    for client in (a, b):
        assert isinstance(client.inbox[-1], ws.GoingAway)
    # A new server on the same database has exactly the acknowledged messages; the client
    # resends the others and each is stored once.
    again = await start_server()
    api = ApiClient(api.session, again.base_url)
    storage = again.app[STORAGE_KEY]
    stored = await storage.messages.since(channel.channel_id, 0, limit=200)
    assert {m.client_msg_id: m.seq for m in stored} == acks
    a = await WsClient.connect(api, alice)
    unacked = [msg_id for msg_id in ids if msg_id not in acks]
    for msg_id in ids:
        await a.send_message(channel.channel_id, client_msg_id=msg_id)
    resent = {e.client_msg_id: e.seq for e in await a.collect(ws.MessageAck, len(ids))}
    assert {k: v for k, v in resent.items() if k in acks} == acks
    stored = await storage.messages.since(channel.channel_id, 0, limit=200)
    assert sorted(m.client_msg_id for m in stored) == sorted(ids)
    assert [m.seq for m in stored] == list(range(1, len(ids) + 1))
    b = await WsClient.connect(api, bob, resume=[(channel.channel_id, len(delivered))])
    assert len(b.replayed) == len(unacked)


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
