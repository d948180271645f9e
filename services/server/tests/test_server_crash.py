"""kill -9 of the server in the middle of a conversation: every acknowledged message is still
there after a restart and reaches every member when they resume."""

from __future__ import annotations

import asyncio
import contextlib

from dialtone.server.realtime.testing import WsClient, WsClosedError
from dialtone.server.testing import (
    ApiClient,
    StartProcess,
    add_member,
    create_channel,
    register_user,
)
from dialtone.wire import ws


async def test_acknowledged_messages_survive_kill_9(
    api: ApiClient, server_process: StartProcess
) -> None:
    """Two members talk; the server process is SIGKILLed mid-stream and restarted; each member
    resumes from what it saw and gets every message its peer had acknowledged, in order."""
    process = await server_process()
    api = ApiClient(api.session, process.base_url)
    admin = process.env["DIALTONE_ADMIN_TOKEN"]
    alice, bob = [await register_user(api, admin) for _ in range(2)]
    channel = await create_channel(api, alice)
    await add_member(api, channel, alice, bob)
    a, b = await WsClient.connect(api, alice), await WsClient.connect(api, bob)
    acked: dict[WsClient, list[int]] = {a: [], b: []}
    seen: dict[WsClient, list[int]] = {a: [], b: []}
    talked_enough = asyncio.Event()

    async def talk(client: WsClient) -> None:
        with contextlib.suppress(WsClosedError, ConnectionError):
            while True:
                await client.send_message(channel.channel_id)
                await asyncio.sleep(0.003)

    async def listen(client: WsClient) -> None:
        with contextlib.suppress(WsClosedError, ConnectionError, TimeoutError):
            while True:
                event = await client.receive(within=30)
                if isinstance(event, ws.MessageAck):
                    acked[client].append(event.seq)
                    if min(len(acked[a]), len(acked[b])) >= 100:
                        talked_enough.set()
                elif isinstance(event, ws.MessageNew):
                    seen[client].append(event.message.seq)

    tasks = [asyncio.ensure_future(f(c)) for c in (a, b) for f in (talk, listen)]
    await asyncio.wait_for(talked_enough.wait(), timeout=60)
    process.kill()
    await asyncio.wait(tasks, timeout=30)
    for task in tasks:
        task.cancel()
    assert all(len(v) >= 100 for v in acked.values())
    process.start()
    await process.wait_ready()
    for me, peer in ((a, b), (b, a)):
        # What the client saw live has no hole.
        everything = sorted(seen[me] + acked[me])
        assert everything == list(range(1, len(everything) + 1))
        user = alice if me is a else bob
        again = await WsClient.connect(api, user, resume=[(channel.channel_id, everything[-1])])
        replayed = [n.message.seq for n in again.replayed]
        assert replayed == list(range(everything[-1] + 1, everything[-1] + 1 + len(replayed)))
        after = set(everything) | set(replayed)
        assert set(acked[peer]) <= after
        assert set(acked[me]) <= after
        await again.close()
