"""Invite store: single-use, expiring invites kept only as token digests."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import NotFoundError
from dialtone.server.storage.records import InviteRecord

_SELECT_INVITE = f"SELECT {_rows.INVITE_COLUMNS} FROM invites"


class InviteStore:
    """All SQL about invites (redemption itself is part of `UserStore.register`).

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def create(
        self,
        *,
        invite_id: str,
        token_digest: bytes,
        created_by: str | None,
        note: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> InviteRecord:
        """Store a new invite.

        Args:
            invite_id: New invite id (shown to admins; not a secret).
            token_digest: Digest of the random invite token.
            created_by: Admin user who created it, or None for the admin token / CLI.
            note: The admin's reminder of whom it is for.
            now: Server time.
            expires_at: When the invite stops being redeemable.

        Returns:
            The invite.
        """
        row = await self._pool.fetchrow(
            "INSERT INTO invites (id, token_digest, created_by, note, created_at, expires_at) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_rows.INVITE_COLUMNS}",
            invite_id,
            token_digest,
            created_by,
            note,
            now,
            expires_at,
        )
        return _rows.invite(row)

    async def list_all(self, *, limit: int) -> list[InviteRecord]:
        """Return the newest invites.

        Args:
            limit: Largest number returned.

        Returns:
            The invites, newest first.
        """
        rows = await self._pool.fetch(
            f"{_SELECT_INVITE} ORDER BY created_at DESC, id LIMIT $1", limit
        )
        return [_rows.invite(row) for row in rows]

    async def revoke(self, invite_id: str, *, now: datetime) -> InviteRecord:
        """Revoke an unused invite.

        Args:
            invite_id: The invite.
            now: Server time.

        Returns:
            The revoked invite.

        Raises:
            NotFoundError: No such unused, unrevoked invite.
        """
        row = await self._pool.fetchrow(
            "UPDATE invites SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL "
            f"AND revoked_at IS NULL RETURNING {_rows.INVITE_COLUMNS}",
            invite_id,
            now,
        )
        if row is None:
            raise NotFoundError("invite")
        return _rows.invite(row)
