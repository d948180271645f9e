"""Presence status and TURN credentials: PUT /v1/presence, GET /v1/turn."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.keys import DEPS_KEY
from dialtone.server.routes._http import authenticate, no_content, read_body, respond
from dialtone.server.services import presence, turn
from dialtone.wire import http


async def set_status(request: web.Request) -> web.Response:
    """`PUT /v1/presence`."""
    principal = await authenticate(request)
    body = await read_body(request, http.PresenceSetRequest)
    await presence.set_status(request.app[DEPS_KEY], principal, body)
    return no_content()


async def turn_credentials(request: web.Request) -> web.Response:
    """`GET /v1/turn`."""
    principal = await authenticate(request)
    deps = request.app[DEPS_KEY]
    return respond(request, turn.credentials(deps.config, principal.user_id, deps.clock.now()))


def add_routes(app: web.Application) -> None:
    """Register the presence and TURN routes.

    Args:
        app: The application.
    """
    app.router.add_put("/v1/presence", set_status)
    app.router.add_get("/v1/turn", turn_credentials, allow_head=False)
