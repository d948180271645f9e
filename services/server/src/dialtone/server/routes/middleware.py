"""Request middleware besides error rendering: the per-IP rate limit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dialtone.server.errors import ApiError
from dialtone.server.keys import CONFIG_KEY, RATE_LIMITS_KEY
from dialtone.wire import ErrorCode


def client_ip(request: web.Request) -> str:
    """Return the client's IP address.

    Behind a trusted proxy (`trust_forwarded_for`), the last `X-Forwarded-For` hop is the address
    the proxy saw; otherwise the socket's peer address.

    Args:
        request: The request.

    Returns:
        The address as text ("unknown" if the transport has none).
    """
    if request.app[CONFIG_KEY].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"


def rate_limited(wait_seconds: float, who: str) -> ApiError:
    """Return the 429 error for a request over its limit.

    Args:
        wait_seconds: How long until a request would be allowed.
        who: What was limited, for the message ("this address", "this user").

    Returns:
        The error with a `Retry-After` header.
    """
    seconds = max(1, int(wait_seconds + 0.999))
    return ApiError(
        ErrorCode.RATE_LIMITED,
        f"too many requests from {who}; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def make_rate_limit_middleware() -> Middleware:
    """Return the middleware enforcing the per-IP limit on every request.

    Returns:
        An aiohttp middleware (placed after the error middleware so its 429 is rendered as JSON).
    """

    @web.middleware
    async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        wait = request.app[RATE_LIMITS_KEY].per_ip.acquire("ip:" + client_ip(request))
        if wait > 0:
            raise rate_limited(wait, "this address")
        return await handler(request)

    return rate_limit_middleware
