"""Request authentication: bearer session tokens -> `Principal` (user id + device id).

Used by every HTTP route and by the WebSocket route at connect time.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from aiohttp import web

from dialtone.crypto.accounts import token_digest
from dialtone.server.errors import ApiError
from dialtone.server.storage import Storage
from dialtone.wire import ErrorCode

_BEARER = "bearer "
# Tokens are base64url text (see dialtone.wire Token); anything longer is not one of ours.
_MAX_TOKEN_CHARS = 256


@attrs.frozen(kw_only=True)
class Principal:
    """Who is making a request.

    Attributes:
        session_id: The session (not its token).
        user_id: The authenticated user.
        device_id: The device the session belongs to.
        is_admin: Whether the user is a server admin.
        device_approved: Whether the device was approved (a pending device may only list its
            account's devices and sessions, and log out).
        session_expires_at: When the session ends.
    """

    session_id: str
    user_id: str
    device_id: str
    is_admin: bool
    device_approved: bool
    session_expires_at: datetime


def unauthorized(message: str = "missing or invalid session token") -> ApiError:
    """Return the 401 error used for every authentication failure."""
    return ApiError(
        ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": 'Bearer realm="dialtone"'}
    )


def bearer_token(request: web.Request) -> str | None:
    """Return the bearer token of a request's `Authorization` header, or None.

    Args:
        request: The request.

    Returns:
        The token text, or None when the header is absent or not a bearer token.
    """
    header = request.headers.get("Authorization", "")
    if header[: len(_BEARER)].lower() != _BEARER:
        return None
    token = header[len(_BEARER) :].strip()
    return token or None


async def authenticate_token(
    storage: Storage, token: str, *, now: datetime, require_approved: bool = True
) -> Principal:
    """Resolve a session token to its principal.

    Args:
        storage: The storage facade.
        token: The presented session token.
        now: Server time (expired sessions are rejected).
        require_approved: Reject sessions of devices still waiting for approval.

    Returns:
        The principal.

    Raises:
        ApiError: 401 `unauthorized` for an unknown, expired or revoked session; 403
            `device_pending` when `require_approved` and the device awaits approval.
    """
    if not token or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        raise unauthorized()
    digest = token_digest(token)
    session = await storage.sessions.authenticate(digest, now=now)
    if session is None:
        raise unauthorized()
    if require_approved and session.device_status != "approved":
        raise ApiError(
            ErrorCode.DEVICE_PENDING, "this device awaits approval from another of your devices"
        )
    return Principal(
        session_id=session.session_id,
        user_id=session.user_id,
        device_id=session.device_id,
        is_admin=session.is_admin,
        device_approved=session.device_status == "approved",
        session_expires_at=session.expires_at,
    )
