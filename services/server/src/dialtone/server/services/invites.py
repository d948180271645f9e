"""Invites (admin only): single-use, expiring, stored as digests; and admin authentication."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dialtone.crypto.accounts import new_token, token_digest, tokens_equal
from dialtone.server.clock import Clock
from dialtone.server.errors import ApiError, not_found
from dialtone.server.services import convert
from dialtone.server.services.auth import authenticate_token, unauthorized
from dialtone.server.services.deps import Deps
from dialtone.server.storage import Storage
from dialtone.server.storage.errors import NotFoundError
from dialtone.wire import ErrorCode, http, limits


async def authenticate_admin(deps: Deps, token: str | None) -> str | None:
    """Check a bearer token for admin rights.

    The operator's admin token is compared in constant time; otherwise the token must be the
    session of an approved device of a server admin.

    Args:
        deps: Services' dependencies.
        token: The bearer token presented, or None.

    Returns:
        The admin user's id, or None when the operator's admin token was used.

    Raises:
        ApiError: `unauthorized` for no or an invalid token, `forbidden` for a non-admin session.
    """
    if token is None:
        raise unauthorized()
    admin_token = deps.config.admin_token
    if admin_token is not None and tokens_equal(token, admin_token):
        return None
    principal = await authenticate_token(deps.storage, token, now=deps.clock.now())
    if not principal.is_admin:
        raise ApiError(ErrorCode.FORBIDDEN, "only server admins manage invites")
    return principal.user_id


async def create_invite(
    storage: Storage,
    clock: Clock,
    *,
    created_by: str | None,
    ttl_seconds: int,
    note: str | None,
) -> http.InviteCreateResponse:
    """Create an invite.

    Args:
        storage: The storage facade.
        clock: The time source.
        created_by: The admin user, or None (admin token or CLI).
        ttl_seconds: Lifetime in seconds.
        note: The admin's reminder of whom it is for.

    Returns:
        The invite and its token (shown only now; only its digest is stored).
    """
    token = new_token(32)
    now = clock.now()
    record = await storage.invites.create(
        invite_id=str(uuid.uuid4()),
        token_digest=token_digest(token),
        created_by=created_by,
        note=note,
        now=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    return http.InviteCreateResponse(invite=convert.invite(record), token=token)


async def list_invites(storage: Storage) -> http.InviteListResponse:
    """List the newest invites.

    Args:
        storage: The storage facade.

    Returns:
        The invites, newest first.
    """
    records = await storage.invites.list_all(limit=limits.MAX_INVITES)
    return http.InviteListResponse(invites=tuple(convert.invite(record) for record in records))


async def revoke_invite(storage: Storage, clock: Clock, invite_id: str) -> http.InviteInfo:
    """Revoke an unused invite.

    Args:
        storage: The storage facade.
        clock: The time source.
        invite_id: The invite.

    Returns:
        The revoked invite.

    Raises:
        ApiError: `not_found` when there is no unused, unrevoked invite with this id.
    """
    try:
        return convert.invite(await storage.invites.revoke(invite_id, now=clock.now()))
    except NotFoundError:
        raise not_found("no such open invite") from None
