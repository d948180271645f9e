"""The encrypted directory: /v1/directory/..."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.keys import DEPS_KEY
from dialtone.server.routes._http import authenticate, read_body, respond
from dialtone.server.services import directory
from dialtone.wire import http


async def put_profile(request: web.Request) -> web.Response:
    """`PUT /v1/directory/profile`."""
    principal = await authenticate(request)
    body = await read_body(request, http.ProfileUpdateRequest)
    return respond(request, await directory.put_profile(request.app[DEPS_KEY], principal, body))


async def profiles(request: web.Request) -> web.Response:
    """`POST /v1/directory/profiles`."""
    await authenticate(request)
    body = await read_body(request, http.ProfileQueryRequest)
    return respond(request, await directory.profiles(request.app[DEPS_KEY], body))


async def post_envelopes(request: web.Request) -> web.Response:
    """`POST /v1/directory/envelopes`."""
    principal = await authenticate(request)
    body = await read_body(request, http.EnvelopePostRequest)
    result = await directory.post_envelopes(request.app[DEPS_KEY], principal, body)
    return respond(request, result)


async def my_envelopes(request: web.Request) -> web.Response:
    """`GET /v1/directory/envelopes`."""
    principal = await authenticate(request)
    return respond(request, await directory.my_envelopes(request.app[DEPS_KEY], principal))


def add_routes(app: web.Application) -> None:
    """Register the directory routes.

    Args:
        app: The application.
    """
    app.router.add_put("/v1/directory/profile", put_profile)
    app.router.add_post("/v1/directory/profiles", profiles)
    app.router.add_post("/v1/directory/envelopes", post_envelopes)
    app.router.add_get("/v1/directory/envelopes", my_envelopes, allow_head=False)
