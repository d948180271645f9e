"""Devices and users: /v1/devices, /v1/users/..."""

from __future__ import annotations

from aiohttp import web

from dialtone.server.keys import DEPS_KEY
from dialtone.server.routes._http import authenticate, no_content, path_id, read_body, respond
from dialtone.server.services import devices
from dialtone.wire import http


async def list_own(request: web.Request) -> web.Response:
    """`GET /v1/devices`."""
    principal = await authenticate(request, allow_pending=True)
    return respond(request, await devices.list_own(request.app[DEPS_KEY], principal))


async def approve(request: web.Request) -> web.Response:
    """`POST /v1/devices/{device_id}/approve`."""
    principal = await authenticate(request)
    device_id = path_id(request, "device_id")
    body = await read_body(request, http.DeviceApproveRequest)
    info = await devices.approve(request.app[DEPS_KEY], principal, device_id, body)
    return respond(request, info)


async def revoke(request: web.Request) -> web.Response:
    """`DELETE /v1/devices/{device_id}`."""
    principal = await authenticate(request)
    await devices.revoke(request.app[DEPS_KEY], principal, path_id(request, "device_id"))
    return no_content()


async def lookup_user(request: web.Request) -> web.Response:
    """`POST /v1/users/lookup`."""
    await authenticate(request)
    body = await read_body(request, http.UserLookupRequest)
    return respond(request, await devices.lookup_user(request.app[DEPS_KEY], body))


async def user_devices(request: web.Request) -> web.Response:
    """`GET /v1/users/{user_id}/devices`."""
    await authenticate(request)
    user_id = path_id(request, "user_id")
    return respond(request, await devices.user_devices(request.app[DEPS_KEY], user_id))


def add_routes(app: web.Application) -> None:
    """Register the device and user routes.

    Args:
        app: The application.
    """
    app.router.add_get("/v1/devices", list_own, allow_head=False)
    app.router.add_post("/v1/devices/{device_id}/approve", approve)
    app.router.add_delete("/v1/devices/{device_id}", revoke)
    app.router.add_post("/v1/users/lookup", lookup_user)
    app.router.add_get("/v1/users/{user_id}/devices", user_devices, allow_head=False)
