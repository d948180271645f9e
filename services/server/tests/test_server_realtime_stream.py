"""The replica link itself: signals in parts, commit pointers, and what happens when the LISTEN
connection is lost (notifications sent meanwhile are lost with it, so every client is asked to
resume with 1013, and loses nothing)."""

from __future__ import annotations

from dialtone.server.keys import POOL_KEY
from dialtone.server.realtime.cluster import Kind, SignalCodec
from dialtone.server.realtime.connection import RESYNC
from dialtone.server.realtime.testing import WsClient
from dialtone.server.realtime.wiring import HUB_KEY
from dialtone.server.storage.notify import MAX_PAYLOAD_BYTES
from dialtone.server.testing import (
    ApiClient,
    RunningServer,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import ws


async def test_a_lost_listener_makes_clients_resume_without_loss(
    api: ApiClient, server: RunningServer
) -> None:
    """Killing the LISTEN backend: clients are closed with 1013; messages stored meanwhile are
    replayed on resume; live delivery works again afterwards."""
    admin = server.config.admin_token
    assert admin is not None
    alice, bob = [await register_user(api, admin) for _ in range(2)]
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == 1
    pool = server.app[POOL_KEY]
    killed = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
    )
    assert killed == 1
    assert await b.closed(within=10) == RESYNC
    assert await a.closed(within=10) == RESYNC
    a = await WsClient.connect(api, alice)
    for _ in range(5):
        await a.send_message(channel.channel_id)
    await a.collect(ws.MessageAck, 5)
    b = await WsClient.connect(api, bob, resume=[(channel.channel_id, 1)])
    assert [n.message.seq for n in b.replayed] == [2, 3, 4, 5, 6]
    await a.send_message(channel.channel_id)
    assert (await b.next(ws.MessageNew)).message.seq == 7
    assert server.app[HUB_KEY].stream.pending == 0


def test_signals_over_the_payload_limit_travel_in_parts() -> None:
    """A signal larger than PostgreSQL's NOTIFY limit is split into parts that each fit, and is
    reassembled even with other signals between its parts; malformed payloads are skipped."""
    sender, receiver = SignalCodec("replica-a"), SignalCodec("replica-b")
    big = "é" * 30_000
    parts = sender.encode(Kind.CHANNEL_EVENT, c="chan", e=big)
    assert len(parts) > 1
    assert all(len(part.encode()) <= MAX_PAYLOAD_BYTES for part in parts)
    (small,) = sender.encode(Kind.HEARTBEAT)
    decoded = []
    for payload in [parts[0], small, "not json", *parts[1:]]:
        signal = receiver.decode(payload)
        if signal is not None:
            decoded.append(signal)
    assert [d.kind for d in decoded] == [Kind.HEARTBEAT, Kind.CHANNEL_EVENT]
    assert decoded[1].replica == "replica-a"
    assert decoded[1].body == {"c": "chan", "e": big}


def test_commit_pointer_template_is_a_messages_signal() -> None:
    """The template PostgreSQL completes with the stored range decodes as a MESSAGES signal."""
    codec = SignalCodec("replica-a")
    template = codec.messages_template("chan", 7)
    payload = template.before + "11" + template.between + "14" + template.after
    signal = codec.decode(payload)
    assert signal is not None
    assert (signal.kind, signal.replica) == (Kind.MESSAGES, "replica-a")
    assert signal.body == {"c": "chan", "t": 7, "a": 11, "b": 14}
