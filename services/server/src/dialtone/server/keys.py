"""Typed `web.AppKey`s for everything shared through the application (no module-level state)."""

from __future__ import annotations

from typing import Any

import cattrs
from aiohttp import web

from dialtone.server.clock import Clock
from dialtone.server.config import ServerConfig
from dialtone.server.services.deps import Deps
from dialtone.server.services.events import EventPublisher, PresenceSource
from dialtone.server.services.ratelimit import RateLimits
from dialtone.server.storage import Storage
from dialtone.wire import Codec

# -- foundation ------------------------------------------------------------------------------
CONFIG_KEY = web.AppKey("config", ServerConfig)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
# asyncpg ships no type information: the pool is an `asyncpg.Pool`.
POOL_KEY: web.AppKey[Any] = web.AppKey("pool")
STORAGE_KEY = web.AppKey("storage", Storage)
CONVERTER_KEY = web.AppKey("converter", cattrs.Converter)
CODEC_KEY = web.AppKey("codec", Codec)
RATE_LIMITS_KEY = web.AppKey("rate_limits", RateLimits)
# Set at startup, once the realtime side has wired EVENTS_KEY and PRESENCE_KEY.
DEPS_KEY = web.AppKey("deps", Deps)

# -- realtime (implemented and wired by the realtime side in app.py's realtime section) --------
EVENTS_KEY: web.AppKey[EventPublisher] = web.AppKey("events")
PRESENCE_KEY: web.AppKey[PresenceSource] = web.AppKey("presence")
