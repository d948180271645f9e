"""`create_app`: builds the aiohttp application; resources are opened and closed in `cleanup_ctx`.

This file is shared by the two server engineers: the foundation section (config, database,
storage, HTTP routes) and the realtime section (hub, /v1/ws, notifier) are kept apart below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from dialtone.server.clock import Clock, SystemClock
from dialtone.server.config import ServerConfig
from dialtone.server.errors import make_error_middleware
from dialtone.server.keys import (
    CLOCK_KEY,
    CODEC_KEY,
    CONFIG_KEY,
    CONVERTER_KEY,
    DEPS_KEY,
    EVENTS_KEY,
    POOL_KEY,
    PRESENCE_KEY,
    RATE_LIMITS_KEY,
    STORAGE_KEY,
)
from dialtone.server.migrate import apply_migrations
from dialtone.server.realtime.wiring import setup_realtime
from dialtone.server.routes import setup_routes
from dialtone.server.routes.middleware import make_rate_limit_middleware
from dialtone.server.services.deps import Deps
from dialtone.server.services.passwords import PasswordHasher, params_for
from dialtone.server.services.ratelimit import RateLimiter, RateLimits
from dialtone.server.storage import Storage, create_pool
from dialtone.wire import Codec, make_converter

_log = logging.getLogger("dialtone.server.app")


class WiringError(RuntimeError):
    """A part the server cannot run without was not wired into the application."""


def create_app(config: ServerConfig, *, clock: Clock | None = None) -> web.Application:
    """Build the Dialtone server application.

    Args:
        config: The validated configuration; `db_url` and `username_pepper` must be set (the
            embedded database fills them in before this is called).
        clock: Time source (tests pass a manual clock).

    Returns:
        The application, ready for `web.run_app` or an `AppRunner`.

    Raises:
        ValueError: `config` lacks the database URL or the pepper.
    """
    if config.db_url is None or config.username_pepper is None:
        raise ValueError("create_app needs config.db_url and config.username_pepper")
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[make_error_middleware(), make_rate_limit_middleware()],
    )
    time_source = clock or SystemClock()
    app[CONFIG_KEY] = config
    app[CLOCK_KEY] = time_source
    converter = make_converter()
    app[CONVERTER_KEY] = converter
    app[CODEC_KEY] = Codec(converter)
    app[RATE_LIMITS_KEY] = RateLimits(
        per_user=RateLimiter(
            rate_per_second=config.rate_user_per_second,
            burst=config.rate_user_burst,
            monotonic=time_source.monotonic,
        ),
        per_ip=RateLimiter(
            rate_per_second=config.rate_ip_per_second,
            burst=config.rate_ip_burst,
            monotonic=time_source.monotonic,
        ),
        auth_per_ip=RateLimiter(
            rate_per_second=config.auth_attempts_per_minute / 60.0,
            burst=config.auth_attempts_per_minute,
            monotonic=time_source.monotonic,
        ),
    )

    # -- foundation: database and storage --------------------------------------------------
    app.cleanup_ctx.append(_database)

    # -- realtime section (owned by the realtime side) ---------------------------------------
    # Hub, message pipeline and replica link (sets HUB_KEY, EVENTS_KEY, PRESENCE_KEY), the
    # graceful WebSocket shutdown and /v1/ws. After `_database`: it needs the pool.
    setup_realtime(app)
    # -- end of realtime section -------------------------------------------------------------

    app.on_startup.append(_assemble_services)
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    assert config.db_url is not None
    # yoyo is synchronous (psycopg): keep it off the event loop.
    await asyncio.to_thread(apply_migrations, config.db_url)
    pool = await create_pool(
        config.db_url, min_size=config.db_pool_min, max_size=config.db_pool_max
    )
    app[POOL_KEY] = pool
    app[STORAGE_KEY] = Storage(pool)
    try:
        yield
    finally:
        await pool.close()


async def _assemble_services(app: web.Application) -> None:
    # Runs after every cleanup_ctx started. HTTP services publish through the realtime side's
    # notifier: refusing to start without it beats silently losing events in production.
    required = {"EVENTS_KEY": EVENTS_KEY in app, "PRESENCE_KEY": PRESENCE_KEY in app}
    missing = [name for name, present in required.items() if not present]
    if missing:
        raise WiringError(f"not wired into the application: {', '.join(missing)}")
    config = app[CONFIG_KEY]
    app[DEPS_KEY] = Deps(
        config=config,
        storage=app[STORAGE_KEY],
        events=app[EVENTS_KEY],
        presence=app[PRESENCE_KEY],
        clock=app[CLOCK_KEY],
        hasher=PasswordHasher(params_for(config.kdf_preset)),
    )
