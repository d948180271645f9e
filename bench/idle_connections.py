"""Idle-connection benchmark of dialtone-server: hold N authenticated WebSockets, measure memory.

Starts a throwaway PostgreSQL and a real `python -m dialtone.server serve` (helpers from
`fanout.py`), registers U users in channels of G members (so presence has someone to tell), then
opens N /v1/ws connections spread evenly over the users' sessions: each one authenticates, says
hello and waits for `resume.done`, and then stays idle (it answers the server's pings). After all
are up it holds them for H seconds and prints ONE JSON line:

    N users connected failed connect_s hold_s server_rss_mb server_peak_rss_mb rss_per_conn_kb
    server_rss_before_mb server_cpu_s

The load client is this process; connections come from several 127.0.0.x source addresses so
the ephemeral port range is never the limit, and the open-file limit is raised (as root the hard
limit too) for this process and the server it starts. Stops by itself.

    .venv/bin/python bench/idle_connections.py --connections 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from fanout import (
    Postgres,
    RawClient,
    Server,
    channel_with,
    connect_all,
    raise_fd_limit,
    register_many,
)

from dialtone.server.testing import ApiClient, TestUser


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the result line's fields."""
    raise_fd_limit(args.connections + 4096)
    postgres = Postgres(max_connections=100)
    server = Server(
        postgres.url, profile=args.profile, env={"DIALTONE_DB_POOL_MAX": str(args.pool)}
    )
    try:
        await server.wait_ready()
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, server.base_url)
            users = await register_many(api, args.users)
            groups = [users[i : i + args.group] for i in range(0, len(users), args.group)]
            gate = asyncio.Semaphore(4)

            async def group_channel(group: list[TestUser]) -> None:
                async with gate:
                    if len(group) > 1:
                        await channel_with(api, group)

            await asyncio.gather(*(group_channel(group) for group in groups))
        rss_before = server.rss_mb()
        cpu_before = server.cpu_seconds()
        tokens = [users[i % len(users)].token for i in range(args.connections)]
        sources = [f"127.0.0.{n}" for n in range(1, args.sources + 1)]
        started = time.monotonic()
        results = await asyncio.gather(
            *(
                _connect_chunk(server.port, chunk, sources)
                for chunk in _chunks(tokens, max(1, len(tokens) // 8))
            ),
            return_exceptions=False,
        )
        clients = [client for chunk in results for client in chunk[0]]
        failed = sum(chunk[1] for chunk in results)
        connect_s = time.monotonic() - started
        await asyncio.sleep(args.hold)
        alive = sum(1 for c in clients if c.transport is not None and not c.transport.is_closing())
        result = {
            "N": args.connections,
            "users": args.users,
            "connected": alive,
            "failed": failed,
            "connect_s": round(connect_s, 1),
            "hold_s": args.hold,
            "server_rss_mb": round(server.rss_mb(), 1),
            "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
            "rss_per_conn_kb": round((server.rss_mb() - rss_before) * 1024 / max(1, alive), 1),
            "server_rss_before_mb": round(rss_before, 1),
            "server_cpu_s": round(server.cpu_seconds() - cpu_before, 1),
        }
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        return result
    finally:
        server.stop()
        postgres.stop()


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _connect_chunk(
    port: int, tokens: Sequence[str], sources: Sequence[str]
) -> tuple[list[RawClient], int]:
    try:
        clients = await connect_all(
            port,
            tokens,
            lambda token: RawClient(token, None, "127.0.0.1"),
            parallel=32,
            local_addrs=sources,
        )
    except (OSError, ConnectionError, TimeoutError) as exc:
        print(f"# a chunk failed: {exc!r}", file=sys.stderr)
        return [], len(tokens)
    return clients, 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", "-N", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1000, help="users the connections belong to")
    parser.add_argument("--group", type=int, default=20, help="members per channel")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold them idle")
    parser.add_argument("--sources", type=int, default=8, help="127.0.0.x source addresses")
    parser.add_argument("--pool", type=int, default=20, help="server's database pool size")
    parser.add_argument("--profile", help="write a cProfile of the server to this file")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))
    if args.profile:
        import pstats

        pstats.Stats(args.profile, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
