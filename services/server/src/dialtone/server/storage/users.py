"""User store: accounts (created by redeeming an invite), lookups by username hash."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import (
    DeviceExistsError,
    InviteUnavailableError,
    UsernameTakenError,
)
from dialtone.server.storage.records import DeviceKeys, DeviceRecord, UserRecord

_SELECT_USER = f"SELECT {_rows.USER_COLUMNS} FROM users"


class UserStore:
    """All SQL about user accounts.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def register(
        self,
        *,
        invite_digest: bytes,
        user_id: str,
        username_hash: bytes,
        password_hash: str,
        device_id: str,
        device_keys: DeviceKeys,
        now: datetime,
    ) -> tuple[UserRecord, DeviceRecord]:
        """Redeem an invite and create the account with its first (approved) device, atomically.

        The invite is claimed with a conditional `UPDATE`: concurrent redemptions of one token
        queue on its row lock and, once the first commits, no longer match. A username clash
        rolls everything back, so the invite stays usable.

        Args:
            invite_digest: Digest of the invite token.
            user_id: New user id.
            username_hash: Peppered HMAC of the normalized username.
            password_hash: Encoded password hash.
            device_id: New device id.
            device_keys: The device's public keys.
            now: Server time.

        Returns:
            The new user and device.

        Raises:
            InviteUnavailableError: The invite is unknown, used, revoked or expired.
            UsernameTakenError: The username is taken.
            DeviceExistsError: A device with these keys is already registered.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            invite_id = await conn.fetchval(
                "UPDATE invites SET used_at = $2 WHERE token_digest = $1 "
                "AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING id",
                invite_digest,
                now,
            )
            if invite_id is None:
                raise InviteUnavailableError
            try:
                user_row = await conn.fetchrow(
                    "INSERT INTO users (id, username_hash, password_hash, is_admin, created_at) "
                    f"VALUES ($1, $2, $3, false, $4) RETURNING {_rows.USER_COLUMNS}",
                    user_id,
                    username_hash,
                    password_hash,
                    now,
                )
            except asyncpg.UniqueViolationError:
                raise UsernameTakenError from None
            await conn.execute("UPDATE invites SET used_by = $2 WHERE id = $1", invite_id, user_id)
            try:
                device_row = await conn.fetchrow(
                    "INSERT INTO devices (id, user_id, x25519_public, ed25519_public, "
                    "key_signature, created_at, approved_at) VALUES ($1, $2, $3, $4, $5, $6, $6) "
                    f"RETURNING {_rows.DEVICE_COLUMNS}",
                    device_id,
                    user_id,
                    device_keys.x25519_public,
                    device_keys.ed25519_public,
                    device_keys.key_signature,
                    now,
                )
            except asyncpg.UniqueViolationError:
                raise DeviceExistsError from None
        return _rows.user(user_row), _rows.device(device_row)

    async def by_username_hash(self, username_hash: bytes) -> UserRecord | None:
        """Return the user with this username hash, or None.

        Args:
            username_hash: Peppered HMAC of the normalized username.

        Returns:
            The user or None.
        """
        row = await self._pool.fetchrow(f"{_SELECT_USER} WHERE username_hash = $1", username_hash)
        return None if row is None else _rows.user(row)

    async def get(self, user_id: str) -> UserRecord | None:
        """Return the user with this id, or None.

        Args:
            user_id: The user.

        Returns:
            The user or None.
        """
        row = await self._pool.fetchrow(f"{_SELECT_USER} WHERE id = $1", user_id)
        return None if row is None else _rows.user(row)

    async def existing_ids(self, user_ids: Sequence[str]) -> set[str]:
        """Return which of the given ids belong to existing users.

        Args:
            user_ids: Candidate user ids.

        Returns:
            The subset that exists.
        """
        rows = await self._pool.fetch(
            "SELECT id FROM users WHERE id = ANY($1::uuid[])", list(user_ids)
        )
        return {_rows.text_id(row["id"]) for row in rows}

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash (rehash with current parameters at login).

        Args:
            user_id: The user.
            password_hash: The new encoded hash.
        """
        await self._pool.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def set_admin(self, user_id: str, is_admin: bool) -> bool:
        """Grant or withdraw server-admin rights.

        Args:
            user_id: The user.
            is_admin: The new flag.

        Returns:
            Whether the user exists.
        """
        status = await self._pool.execute(
            "UPDATE users SET is_admin = $2 WHERE id = $1", user_id, is_admin
        )
        return bool(status != "UPDATE 0")

    async def list_all(self) -> list[UserRecord]:
        """Return every user, oldest first (admin tooling).

        Returns:
            All users.
        """
        rows = await self._pool.fetch(f"{_SELECT_USER} ORDER BY created_at, id")
        return [_rows.user(row) for row in rows]
