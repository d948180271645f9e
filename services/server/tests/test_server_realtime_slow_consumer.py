"""A client that stops reading is disconnected with SLOW_CONSUMER, loses nothing, and catches up
by resuming; the other members are not held back."""

from __future__ import annotations

import secrets

from dialtone.server.realtime.testing import WsClient
from dialtone.server.realtime.wiring import HUB_KEY
from dialtone.server.testing import (
    ApiClient,
    StartServer,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import limits, ws


async def test_slow_consumer_is_cut_off_and_catches_up_on_resume(
    api: ApiClient, start_server: StartServer
) -> None:
    """Everything the slow client got before the 4003 close is an unbroken prefix; resuming
    delivers the rest; a reading member meanwhile got every message live."""
    server = await start_server(ws_send_queue_limit=16)
    rt = server.app[HUB_KEY]
    api = ApiClient(api.session, server.base_url)
    admin = server.config.admin_token
    assert admin is not None
    alice, bob, carol = [await register_user(api, admin) for _ in range(3)]
    channel = await create_channel(api, alice)
    for user in (bob, carol):
        await add_member(api, channel, alice, user)
    a, b, c = [await WsClient.connect(api, u) for u in (alice, bob, carol)]
    (bobs_connection,) = rt.hub.connections_of(bob.user_id)
    # Bob stops reading: his kernel buffers, the server's transport buffer and then his send
    # queue fill up. Carol keeps reading.
    sent = 0
    carol_got: list[int] = []
    body = secrets.token_bytes(limits.MAX_SEALED_BODY_BYTES)
    while not bobs_connection.closing and sent < 3000:
        for _ in range(50):
            await a.send_message(channel.channel_id, body=body)
        await a.collect(ws.MessageAck, 50, within=30)
        sent += 50
        carol_got += [n.message.seq for n in await c.collect(ws.MessageNew, 50, within=30)]
    assert bobs_connection.close_code == ws.CloseCode.SLOW_CONSUMER
    assert carol_got == list(range(1, sent + 1))
    assert await b.closed(within=30) == ws.CloseCode.SLOW_CONSUMER
    got = [n.message.seq for n in b.inbox if isinstance(n, ws.MessageNew)]
    assert got == list(range(1, len(got) + 1))
    assert 0 < len(got) < sent
    again = await WsClient.connect(api, bob, resume=[(channel.channel_id, len(got))])
    assert [n.message.seq for n in again.replayed] == list(range(len(got) + 1, sent + 1))
