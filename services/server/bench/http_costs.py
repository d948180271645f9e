"""What the HTTP side and the message store cost on this machine (loopback, bounded, ~1 minute).

Starts a throwaway PostgreSQL and an in-process server, then measures: single message appends
(one channel sequential; eight channels at once; eight writers on one channel), history pages of
50 and 200 messages, the channel list, health, and login with production scrypt parameters.
Prints one JSON object. Numbers go to docs/perf-server-http.md.

    .venv/bin/python services/server/bench/http_costs.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from dialtone.server.keys import STORAGE_KEY
from dialtone.server.migrate import apply_migrations
from dialtone.server.storage.records import NewMessage
from dialtone.server.testing import (
    TEMPLATE_DB,
    ApiClient,
    PostgresCluster,
    add_member,
    create_channel,
    make_test_config,
    register_user,
)
from dialtone.server.testing import run_server as start_in_process
from dialtone.wire import http


async def _rate(count: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - begin) * 1000)
    latencies.sort()
    return {
        "per_s": round(count / (time.perf_counter() - started)),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(0.99 * (count - 1))], 2),
    }


async def measure(cluster: PostgresCluster) -> dict[str, Any]:
    """Run every measurement against a fresh database of `cluster`."""
    results: dict[str, Any] = {}
    db_url = cluster.create_database("bench_http", template=TEMPLATE_DB)
    config = make_test_config(db_url, Path(tempfile.mkdtemp()))
    admin = config.admin_token
    assert admin is not None
    server = await start_in_process(config)
    counter = 0
    async with aiohttp.ClientSession() as session:
        api = ApiClient(session, server.base_url)
        alice, bob = await register_user(api, admin), await register_user(api, admin)
        channel = await create_channel(api, alice)
        await add_member(api, channel, alice, bob)
        storage = server.app[STORAGE_KEY]
        now = datetime.now(UTC)

        def message(channel_id: str) -> NewMessage:
            nonlocal counter
            counter += 1
            return NewMessage(
                channel_id=channel_id,
                client_msg_id=f"b{counter}",
                sender_user_id=alice.user_id,
                sender_device_id=alice.device.device_id,
                key_epoch=1,
                sealed_body=os.urandom(256),
                sealed_sender_name=os.urandom(48),
                signature=os.urandom(64),
            )

        async def append(channel_id: str, count: int) -> None:
            for _ in range(count):
                await storage.messages.append(message(channel_id), now=now)

        results["append_1_channel_sequential"] = await _rate(
            2000, lambda: storage.messages.append(message(channel.channel_id), now=now)
        )
        others = [(await create_channel(api, alice)).channel_id for _ in range(8)]
        started = time.perf_counter()
        await asyncio.gather(*(append(c, 500) for c in others))
        results["append_8_channels_concurrent_per_s"] = round(
            4000 / (time.perf_counter() - started)
        )
        started = time.perf_counter()
        await asyncio.gather(*(append(channel.channel_id, 500) for _ in range(8)))
        results["append_1_channel_8_writers_per_s"] = round(4000 / (time.perf_counter() - started))
        path = f"/v1/channels/{channel.channel_id}/messages"

        def page(limit: int) -> Callable[[], Awaitable[Any]]:
            params = {"limit": str(limit), "before": "1500"}
            return lambda: api.raw("GET", path, token=bob.token, params=params)

        for limit in (50, 200):
            results[f"history_page_{limit}"] = await _rate(300, page(limit))
        results["channel_list"] = await _rate(
            500, lambda: api.raw("GET", "/v1/channels", token=bob.token)
        )
        results["health"] = await _rate(500, lambda: api.raw("GET", "/v1/health"))
    await server.stop()

    server = await start_in_process(attrs.evolve(config, kdf_preset="default"))
    async with aiohttp.ClientSession() as session:
        api = ApiClient(session, server.base_url)
        carol = await register_user(api, admin)
        login = http.LoginRequest(
            username=carol.username, password=carol.password, device_id=carol.device.device_id
        )
        results["login_scrypt_default_sequential"] = await _rate(
            10, lambda: api.raw("POST", "/v1/login", body=login)
        )
        started = time.perf_counter()
        await asyncio.gather(*(api.raw("POST", "/v1/login", body=login) for _ in range(8)))
        results["login_scrypt_default_8_at_once_s"] = round(time.perf_counter() - started, 2)
    await server.stop()
    return results


async def main() -> None:
    """Start PostgreSQL, measure, stop, print JSON."""
    cluster = PostgresCluster.start()
    try:
        apply_migrations(cluster.create_database(TEMPLATE_DB))
        results = await measure(cluster)
    finally:
        cluster.stop()
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
