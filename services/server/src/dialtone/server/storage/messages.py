"""Message store: append with a per-channel sequence number, history, catch-up, read markers."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import NotMemberError, StaleEpochError
from dialtone.server.storage.records import AppendResult, MessageRecord, NewMessage, ReadMarker

_SELECT = f"SELECT {_rows.MESSAGE_COLUMNS} FROM messages"

# Takes the channel's counter row lock and the next number in one statement, but only when the
# sender is a member and the epoch is current, so those checks cannot race a removal or rotation.
_BUMP = (
    "UPDATE channel_sequences s SET last_seq = s.last_seq + 1 FROM channels c "
    "WHERE s.channel_id = $1 AND c.id = s.channel_id AND c.key_epoch = $2 "
    "AND EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = $1 AND m.user_id = $3) "
    "RETURNING s.last_seq"
)
_INSERT = (
    "INSERT INTO messages (channel_id, seq, client_msg_id, sender_user_id, sender_device_id, "
    "key_epoch, sealed_body, sealed_sender_name, signature, server_ts) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (channel_id, sender_device_id, client_msg_id) DO NOTHING "
    f"RETURNING {_rows.MESSAGE_COLUMNS}"
)
_FIND = f"{_SELECT} WHERE channel_id = $1 AND sender_device_id = $2 AND client_msg_id = $3"


class MessageStore:
    """All SQL about messages and read markers.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def append(self, message: NewMessage, *, now: datetime) -> AppendResult:
        """Store a message, assigning the channel's next sequence number.

        The channel's counter row is locked (`UPDATE ... RETURNING`) until commit, so appends to
        one channel are serialized: sequence numbers commit in increasing order without gaps,
        and a reader that sees seq N can already see every seq below N. A repeat of a client id
        by the same device (a retry after a lost ack) stores nothing and returns the original.

        Args:
            message: What to store; the sender ids must come from the authenticated session.
            now: Server time, recorded as `server_ts`.

        Returns:
            The stored message, or the earlier one with `duplicate=True`.

        Raises:
            NotMemberError: The channel does not exist or the sender is not a member.
            StaleEpochError: `message.key_epoch` is not the channel's current epoch.
        """
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                seq = await conn.fetchval(
                    _BUMP, message.channel_id, message.key_epoch, message.sender_user_id
                )
                if seq is not None:
                    row = await conn.fetchrow(
                        _INSERT,
                        message.channel_id,
                        seq,
                        message.client_msg_id,
                        message.sender_user_id,
                        message.sender_device_id,
                        message.key_epoch,
                        message.sealed_body,
                        message.sealed_sender_name,
                        message.signature,
                        now,
                    )
                    if row is not None:
                        return AppendResult(message=_rows.message(row), duplicate=False)
                    # A duplicate: give the number back so the sequence stays gap-free.
                    await conn.execute(
                        "UPDATE channel_sequences SET last_seq = last_seq - 1 "
                        "WHERE channel_id = $1",
                        message.channel_id,
                    )
            # Rare path (duplicate, not a member, stale epoch): explain outside the transaction.
            return await self._explain_refusal(conn, message)

    async def _explain_refusal(self, conn: Any, message: NewMessage) -> AppendResult:
        existing = await conn.fetchrow(
            _FIND, message.channel_id, message.sender_device_id, message.client_msg_id
        )
        if existing is not None:
            return AppendResult(message=_rows.message(existing), duplicate=True)
        row = await conn.fetchrow(
            "SELECT c.key_epoch, EXISTS (SELECT 1 FROM channel_members m "
            "WHERE m.channel_id = c.id AND m.user_id = $2) AS is_member "
            "FROM channels c WHERE c.id = $1",
            message.channel_id,
            message.sender_user_id,
        )
        if row is None or not row["is_member"]:
            raise NotMemberError("channel")
        raise StaleEpochError(row["key_epoch"])

    async def history(
        self,
        channel_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
    ) -> tuple[list[MessageRecord], bool]:
        """Return a page of history in ascending sequence order, and whether there is more.

        `after` alone gives the oldest `limit` messages with seq > after (catch-up); otherwise
        the newest `limit` messages below `before` (and above `after`, when both are given).

        Args:
            channel_id: The channel (membership must already be checked).
            before: Exclusive upper bound on `seq`, or None.
            after: Exclusive lower bound on `seq`, or None.
            limit: Largest number of messages (1..200).

        Returns:
            `(messages, has_more)`: `has_more` tells whether messages lie beyond the page in the
            direction asked (newer for `after` alone, older otherwise).
        """
        if after is not None and before is None:
            rows = await self._pool.fetch(
                f"{_SELECT} WHERE channel_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3",
                channel_id,
                after,
                limit + 1,
            )
            return [_rows.message(row) for row in rows[:limit]], len(rows) > limit
        rows = await self._pool.fetch(
            f"{_SELECT} WHERE channel_id = $1 AND ($2::bigint IS NULL OR seq < $2) "
            "AND ($3::bigint IS NULL OR seq > $3) ORDER BY seq DESC LIMIT $4",
            channel_id,
            before,
            after,
            limit + 1,
        )
        page = [_rows.message(row) for row in reversed(rows[:limit])]
        return page, len(rows) > limit

    async def since(self, channel_id: str, after_seq: int, *, limit: int) -> list[MessageRecord]:
        """Return up to `limit` messages with `seq > after_seq`, oldest first (catch-up).

        Args:
            channel_id: The channel.
            after_seq: The last sequence number the client has (0: none).
            limit: Largest number of messages; page by calling again with the last seq.

        Returns:
            Messages sorted by ascending `seq`.
        """
        rows = await self._pool.fetch(
            f"{_SELECT} WHERE channel_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3",
            channel_id,
            after_seq,
            limit,
        )
        return [_rows.message(row) for row in rows]

    async def last_seq(self, channel_id: str) -> int | None:
        """Return the channel's highest assigned sequence number (0 when empty), or None.

        Args:
            channel_id: The channel.

        Returns:
            The last sequence number, or None when the channel does not exist.
        """
        value: int | None = await self._pool.fetchval(
            "SELECT last_seq FROM channel_sequences WHERE channel_id = $1", channel_id
        )
        return value

    async def last_seqs_for_user(self, user_id: str) -> dict[str, int]:
        """Return `{channel_id: last_seq}` for every channel the user is a member of.

        Args:
            user_id: The user.

        Returns:
            The last sequence number per channel.
        """
        rows = await self._pool.fetch(
            "SELECT s.channel_id, s.last_seq FROM channel_sequences s "
            "JOIN channel_members m ON m.channel_id = s.channel_id WHERE m.user_id = $1 "
            "ORDER BY s.channel_id",
            user_id,
        )
        return {_rows.text_id(row["channel_id"]): row["last_seq"] for row in rows}

    async def set_read_marker(
        self, user_id: str, channel_id: str, seq: int, *, now: datetime
    ) -> ReadMarker:
        """Move a user's read marker forward (never backward, never past the last message).

        Args:
            user_id: The reader (membership must already be checked).
            channel_id: The channel.
            seq: The newest sequence number read.
            now: Server time.

        Returns:
            The marker as stored.
        """
        row = await self._pool.fetchrow(
            "INSERT INTO read_markers (user_id, channel_id, seq, updated_at) "
            "SELECT $1, $2, LEAST($3::bigint, s.last_seq), $4 FROM channel_sequences s "
            "WHERE s.channel_id = $2 "
            "ON CONFLICT (user_id, channel_id) DO UPDATE "
            "SET seq = GREATEST(read_markers.seq, EXCLUDED.seq), updated_at = EXCLUDED.updated_at "
            f"RETURNING {_rows.READ_MARKER_COLUMNS}",
            user_id,
            channel_id,
            seq,
            now,
        )
        if row is None:
            raise NotMemberError("channel")
        return _rows.read_marker(row)

    async def read_markers(self, user_id: str) -> list[ReadMarker]:
        """Return the user's read markers in channels they are a member of.

        Args:
            user_id: The reader.

        Returns:
            One marker per channel that has one.
        """
        rows = await self._pool.fetch(
            "SELECT r.user_id, r.channel_id, r.seq, r.updated_at FROM read_markers r "
            "JOIN channel_members m ON m.channel_id = r.channel_id AND m.user_id = r.user_id "
            "WHERE r.user_id = $1 ORDER BY r.channel_id",
            user_id,
        )
        return [_rows.read_marker(row) for row in rows]
