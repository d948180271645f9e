"""`GET /v1/ws`: the realtime WebSocket. Authenticated before the upgrade; the rest is
`realtime.session`."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.errors import ApiError
from dialtone.server.keys import CLOCK_KEY, STORAGE_KEY
from dialtone.server.realtime import session
from dialtone.server.realtime.wiring import HUB_KEY
from dialtone.server.services.auth import authenticate_token, bearer_token, unauthorized
from dialtone.wire import ErrorCode


async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade an authenticated request to the realtime WebSocket.

    The session token travels in the `Authorization: Bearer` header of the upgrade request, so a
    bad one is refused with an HTTP error before any WebSocket exists.

    Args:
        request: The upgrade request.

    Returns:
        The WebSocket response, once the connection has closed.

    Raises:
        ApiError: `unauthorized` (401), `device_pending` (403), or `unavailable` (503) while
            the server shuts down.
    """
    rt = request.app[HUB_KEY]
    if not rt.hub.accepting:
        raise ApiError(ErrorCode.UNAVAILABLE, "server shutting down; reconnect shortly")
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    principal = await authenticate_token(
        request.app[STORAGE_KEY], token, now=request.app[CLOCK_KEY].now()
    )
    return await session.serve(
        rt,
        request,
        user_id=principal.user_id,
        device_id=principal.device_id,
        session_id=principal.session_id,
        session_expires_at=principal.session_expires_at,
    )


def add_routes(app: web.Application) -> None:
    """Register `/v1/ws`.

    Args:
        app: The application.
    """
    app.router.add_get("/v1/ws", websocket)
