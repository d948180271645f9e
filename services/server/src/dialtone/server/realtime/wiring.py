"""Wiring of the realtime side into the application (called from `create_app`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web

from dialtone.server.keys import (
    CLOCK_KEY,
    CODEC_KEY,
    CONFIG_KEY,
    EVENTS_KEY,
    PRESENCE_KEY,
    STORAGE_KEY,
)
from dialtone.server.realtime.service import Realtime
from dialtone.server.realtime.settings import RealtimeSettings

HUB_KEY = web.AppKey("hub", Realtime)
"""The realtime side of the process (hub, message pipeline, replica link)."""


def setup_realtime(app: web.Application) -> None:
    """Add the realtime side: its resources (after the database's) and `/v1/ws`.

    Must be called after the database's cleanup context was appended, so the pool exists when the
    realtime side starts and still exists when it stops.

    Args:
        app: The application being built.
    """
    from dialtone.server.routes import ws as ws_route

    app.cleanup_ctx.append(_realtime)
    # Runs before aiohttp waits for handlers to finish: WebSocket handlers only end once their
    # connections are closed.
    app.on_shutdown.append(_send_clients_away)
    ws_route.add_routes(app)


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    rt = Realtime(
        storage=app[STORAGE_KEY],
        codec=app[CODEC_KEY],
        clock=app[CLOCK_KEY],
        settings=RealtimeSettings.from_config(app[CONFIG_KEY]),
    )
    await rt.start()
    app[HUB_KEY] = rt
    app[EVENTS_KEY] = rt
    app[PRESENCE_KEY] = rt
    # Everything built so far (imports, converters, pool) lives as long as the process: keep
    # it out of the cyclic collector, whose full passes would otherwise stall the event loop
    # for tens of milliseconds under load (a fan-out latency spike). Undone at cleanup so that
    # an in-process server (tests) leaves nothing uncollectable behind.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        await rt.stop()


async def _send_clients_away(app: web.Application) -> None:
    rt = app.get(HUB_KEY)
    if rt is not None:
        await rt.shutdown()
