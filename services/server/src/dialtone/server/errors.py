"""API errors: `ApiError` with a stable `ErrorCode`, and the one middleware that renders errors.

Every error that reaches a client is JSON `{"error": {"code": ..., "message": ...}}` (the wire's
`ErrorResponse`) with the status `dialtone.wire.HTTP_STATUS` gives its code. Bad input never
produces a 500; an unexpected exception becomes a 500 `internal_error` and a log line naming the
exception type, the route and the stack, never request bodies or exception messages (which may
hold ciphertext, credentials or values from the database).
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from dialtone.wire import HTTP_STATUS, ErrorCode, ProtocolError, error_code_for

_log = logging.getLogger("dialtone.server.errors")


class ApiError(Exception):
    """An error meant for the client.

    Args:
        code: The stable error code; the HTTP status follows from it.
        message: Short human-readable explanation, free of secrets and plaintext.
        headers: Extra response headers (e.g. `Retry-After`).
        status: Override of the status implied by `code` (rarely needed).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.status = status if status is not None else HTTP_STATUS[code]


def not_found(what: str = "not found") -> ApiError:
    """Return the 404 used both for "does not exist" and "not yours" (they must look the same).

    Args:
        what: The message.

    Returns:
        The error.
    """
    return ApiError(ErrorCode.NOT_FOUND, what)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Render an error body.

    Args:
        status: HTTP status code.
        code: Stable error code.
        message: Human-readable message.
        headers: Extra headers.

    Returns:
        The JSON error response.
    """
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


_HTTP_CODES: Final[dict[int, ErrorCode]] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def make_error_middleware() -> Middleware:
    """Return the middleware that turns every failure into the JSON error shape.

    Returns:
        An aiohttp middleware (the outermost one).
    """

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code.value, exc.message, exc.headers)
        except ProtocolError as exc:
            code = error_code_for(exc)
            message = f"{exc.reason.value}: {exc.message}"[:300]
            return error_response(HTTP_STATUS[code], code.value, message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, ErrorCode.BAD_REQUEST)
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            message = "request body too large" if exc.status == 413 else exc.reason.lower()
            return error_response(exc.status, code.value, message, headers)
        except Exception as exc:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "?"
            # Type, route and stack only: messages may carry values from the request or database.
            stack = "".join(traceback.format_tb(exc.__traceback__))
            _log.error(
                "unhandled %s in %s %s\n%s", type(exc).__name__, request.method, route, stack
            )
            return error_response(500, ErrorCode.INTERNAL_ERROR.value, "internal server error")

    return error_middleware
