"""Helpers shared by the HTTP handlers: body decoding, response encoding, authentication, ids."""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

from aiohttp import web

from dialtone.server.errors import ApiError, not_found
from dialtone.server.keys import CLOCK_KEY, CODEC_KEY, RATE_LIMITS_KEY, STORAGE_KEY
from dialtone.server.routes.middleware import rate_limited
from dialtone.server.services.auth import Principal, authenticate_token, bearer_token, unauthorized
from dialtone.wire import ErrorCode

T = TypeVar("T")

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The messages services use for unknown ids, so a malformed id answers exactly like an unknown one.
_NOT_FOUND: Final = {
    "channel_id": "no such channel",
    "device_id": "no such device",
    "invite_id": "no such open invite",
    "session_id": "no such session",
    "user_id": "no such user",
}


async def read_body(request: web.Request, cls: type[T]) -> T:
    """Decode a JSON request body strictly as the wire type `cls`.

    Args:
        request: The request (its body is capped by the application's `client_max_size`).
        cls: The `dialtone.wire.http` request type.

    Returns:
        The decoded body.

    Raises:
        ApiError: `bad_request` when the content type is not JSON.
        ProtocolError: The body is not a valid `cls` (rendered as 400 by the error middleware).
        web.HTTPRequestEntityTooLarge: The body is over the cap (rendered as 413).
    """
    if request.content_type != "application/json":
        raise ApiError(ErrorCode.BAD_REQUEST, "expected Content-Type: application/json")
    data = await request.read()
    return request.app[CODEC_KEY].decode_http(cls, data)


def respond(request: web.Request, body: Any, *, status: int = 200) -> web.Response:
    """Encode a wire response body.

    Args:
        request: The request being answered.
        body: A `dialtone.wire.http` response object.
        status: HTTP status.

    Returns:
        The JSON response.
    """
    return web.Response(
        body=request.app[CODEC_KEY].encode_http(body),
        status=status,
        content_type="application/json",
    )


def no_content() -> web.Response:
    """Return `204 No Content`."""
    return web.Response(status=204)


async def authenticate(request: web.Request, *, allow_pending: bool = False) -> Principal:
    """Authenticate the request's bearer session and apply the per-user rate limit.

    Args:
        request: The request.
        allow_pending: Accept a session of a device still waiting for approval.

    Returns:
        The principal.

    Raises:
        ApiError: `unauthorized`, `device_pending` or `rate_limited`.
    """
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    principal = await authenticate_token(
        request.app[STORAGE_KEY],
        token,
        now=request.app[CLOCK_KEY].now(),
        require_approved=not allow_pending,
    )
    wait = request.app[RATE_LIMITS_KEY].per_user.acquire("user:" + principal.user_id)
    if wait > 0:
        raise rate_limited(wait, "this user")
    return principal


def path_id(request: web.Request, name: str) -> str:
    """Return a UUID path parameter; anything that is not a lowercase UUID is simply not found.

    Args:
        request: The request.
        name: The placeholder name.

    Returns:
        The id.

    Raises:
        ApiError: `not_found` for a malformed id (the same answer as for an unknown one).
    """
    value = request.match_info[name]
    if not _UUID.fullmatch(value):
        raise not_found(_NOT_FOUND.get(name, "not found"))
    return value
