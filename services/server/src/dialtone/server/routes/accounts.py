"""Accounts and sessions: /v1/register, /v1/login, /v1/logout, /v1/sessions, POST /v1/devices."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.keys import DEPS_KEY, RATE_LIMITS_KEY
from dialtone.server.routes._http import authenticate, no_content, path_id, read_body, respond
from dialtone.server.routes.middleware import client_ip, rate_limited
from dialtone.server.services import accounts
from dialtone.wire import http


def _limit_auth_attempts(request: web.Request) -> None:
    # Password guessing is the threat here: a much smaller per-address budget than other routes.
    wait = request.app[RATE_LIMITS_KEY].auth_per_ip.acquire("auth:" + client_ip(request))
    if wait > 0:
        raise rate_limited(wait, "this address (login attempts)")


async def register(request: web.Request) -> web.Response:
    """`POST /v1/register`."""
    _limit_auth_attempts(request)
    body = await read_body(request, http.RegisterRequest)
    return respond(request, await accounts.register(request.app[DEPS_KEY], body), status=201)


async def login(request: web.Request) -> web.Response:
    """`POST /v1/login`."""
    _limit_auth_attempts(request)
    body = await read_body(request, http.LoginRequest)
    return respond(request, await accounts.login(request.app[DEPS_KEY], body))


async def add_device(request: web.Request) -> web.Response:
    """`POST /v1/devices`."""
    _limit_auth_attempts(request)
    body = await read_body(request, http.DeviceAddRequest)
    return respond(request, await accounts.add_device(request.app[DEPS_KEY], body), status=201)


async def logout(request: web.Request) -> web.Response:
    """`POST /v1/logout`."""
    principal = await authenticate(request, allow_pending=True)
    await accounts.logout(request.app[DEPS_KEY], principal)
    return no_content()


async def list_sessions(request: web.Request) -> web.Response:
    """`GET /v1/sessions`."""
    principal = await authenticate(request, allow_pending=True)
    return respond(request, await accounts.list_sessions(request.app[DEPS_KEY], principal))


async def delete_session(request: web.Request) -> web.Response:
    """`DELETE /v1/sessions/{session_id}`."""
    principal = await authenticate(request, allow_pending=True)
    session_id = path_id(request, "session_id")
    await accounts.delete_session(request.app[DEPS_KEY], principal, session_id)
    return no_content()


def add_routes(app: web.Application) -> None:
    """Register the account routes.

    Args:
        app: The application.
    """
    app.router.add_post("/v1/register", register)
    app.router.add_post("/v1/login", login)
    app.router.add_post("/v1/logout", logout)
    app.router.add_get("/v1/sessions", list_sessions, allow_head=False)
    app.router.add_delete("/v1/sessions/{session_id}", delete_session)
    app.router.add_post("/v1/devices", add_device)
