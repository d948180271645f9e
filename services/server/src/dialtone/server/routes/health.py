"""`GET /v1/health`: liveness plus the versions spoken. Unauthenticated."""

from __future__ import annotations

from aiohttp import web

from dialtone.server import __version__
from dialtone.server.errors import ApiError
from dialtone.server.keys import STORAGE_KEY
from dialtone.server.routes._http import respond
from dialtone.wire import SUPPORTED_PROTOCOL_VERSIONS, ErrorCode
from dialtone.wire.http import HealthResponse


async def health(request: web.Request) -> web.Response:
    """Answer when the server and its database are up.

    Args:
        request: The request.

    Returns:
        `HealthResponse`.

    Raises:
        ApiError: `unavailable` (503) when the database does not answer.
    """
    if not await request.app[STORAGE_KEY].ping():
        raise ApiError(ErrorCode.UNAVAILABLE, "database unavailable")
    return respond(
        request,
        HealthResponse(
            server_version=__version__, protocol_versions=tuple(SUPPORTED_PROTOCOL_VERSIONS)
        ),
    )


def add_routes(app: web.Application) -> None:
    """Register the health route.

    Args:
        app: The application.
    """
    app.router.add_get("/v1/health", health, allow_head=False)
