"""Session store: random tokens kept only as digests, with an expiry that survives restarts."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dialtone.server.storage import _rows
from dialtone.server.storage.records import AuthenticatedSession, SessionRecord

# `last_used_at` is refreshed at most this often, so authentication is not a write per request.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class SessionStore:
    """All SQL about login sessions.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def create(
        self,
        *,
        session_id: str,
        token_digest: bytes,
        user_id: str,
        device_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> SessionRecord:
        """Store a new session.

        Args:
            session_id: New session id (not a secret).
            token_digest: Digest of the random session token (the token is never stored).
            user_id: The user.
            device_id: The device the session belongs to.
            now: Server time.
            expires_at: When the session stops being valid.

        Returns:
            The session.
        """
        row = await self._pool.fetchrow(
            "INSERT INTO sessions (id, token_digest, user_id, device_id, created_at, expires_at, "
            f"last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $5) RETURNING {_rows.SESSION_COLUMNS}",
            session_id,
            token_digest,
            user_id,
            device_id,
            now,
            expires_at,
        )
        return _rows.session(row)

    async def authenticate(
        self, token_digest: bytes, *, now: datetime
    ) -> AuthenticatedSession | None:
        """Return the live session for a token digest, or None; note its use.

        A session is live when it has not expired and its device is not revoked. One statement
        (one round trip per authenticated request): it also refreshes `last_used_at` when that is
        older than `LAST_USED_GRANULARITY`.

        Args:
            token_digest: Digest of the presented token.
            now: Server time.

        Returns:
            The session with its device status and the user's admin flag, or None.
        """
        row = await self._pool.fetchrow(
            "WITH live AS ("
            " SELECT s.id, s.user_id, s.device_id, s.expires_at, s.last_used_at, u.is_admin,"
            " d.approved_at IS NOT NULL AS approved"
            " FROM sessions s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = s.user_id"
            " WHERE s.token_digest = $1 AND s.expires_at > $2 AND d.revoked_at IS NULL"
            "), touched AS ("
            " UPDATE sessions SET last_used_at = $2 FROM live WHERE sessions.id = live.id"
            " AND (live.last_used_at IS NULL OR live.last_used_at <= $3) RETURNING sessions.id"
            ") SELECT live.*, EXISTS (SELECT 1 FROM touched) AS touched FROM live",
            token_digest,
            now,
            now - LAST_USED_GRANULARITY,
        )
        if row is None:
            return None
        return AuthenticatedSession(
            session_id=_rows.text_id(row["id"]),
            user_id=_rows.text_id(row["user_id"]),
            device_id=_rows.text_id(row["device_id"]),
            is_admin=row["is_admin"],
            device_status="approved" if row["approved"] else "pending",
            expires_at=row["expires_at"],
            last_used_at=now if row["touched"] else row["last_used_at"],
        )

    async def list_for_user(self, user_id: str, *, now: datetime) -> list[SessionRecord]:
        """Return the user's live sessions, newest first.

        Args:
            user_id: The user.
            now: Server time.

        Returns:
            The sessions.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.SESSION_COLUMNS} FROM sessions WHERE user_id = $1 "
            "AND expires_at > $2 ORDER BY created_at DESC, id",
            user_id,
            now,
        )
        return [_rows.session(row) for row in rows]

    async def delete(self, session_id: str, *, user_id: str) -> bool:
        """Delete one of a user's sessions.

        Args:
            session_id: The session.
            user_id: Its owner (a session of another user is never touched).

        Returns:
            Whether a session was deleted.
        """
        status = await self._pool.execute(
            "DELETE FROM sessions WHERE id = $1 AND user_id = $2", session_id, user_id
        )
        return bool(status != "DELETE 0")

    async def delete_by_digest(self, token_digest: bytes) -> bool:
        """Delete the session of a token (logout).

        Args:
            token_digest: Digest of the session token.

        Returns:
            Whether a session was deleted.
        """
        status = await self._pool.execute(
            "DELETE FROM sessions WHERE token_digest = $1", token_digest
        )
        return bool(status != "DELETE 0")

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete expired sessions.

        Args:
            now: Server time.

        Returns:
            The number of sessions deleted.
        """
        status: str = await self._pool.execute("DELETE FROM sessions WHERE expires_at <= $1", now)
        return int(status.split()[-1])
