"""Channel store: channels, membership (with roles) and channel key envelopes."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import (
    AlreadyMemberError,
    ConflictError,
    LastOwnerError,
    NotFoundError,
    NotMemberError,
    StaleEpochError,
)
from dialtone.server.storage.records import (
    ChannelEnvelope,
    ChannelName,
    ChannelRecord,
    ChannelView,
    EnvelopeUpload,
    MemberRecord,
    Role,
)

_SELECT_CHANNEL = (
    f"SELECT {_rows.CHANNEL_COLUMNS} FROM channels c "
    "JOIN channel_sequences s ON s.channel_id = c.id"
)


class ChannelStore:
    """All SQL about channels, members and channel key envelopes.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    # -- channels ---------------------------------------------------------------------------

    async def create(
        self,
        *,
        channel_id: str,
        name: ChannelName,
        owner_id: str,
        owner_device_id: str,
        envelopes: Sequence[EnvelopeUpload],
        now: datetime,
    ) -> ChannelRecord:
        """Create a channel at key epoch 1 with its creator as owner and the first envelopes.

        Args:
            channel_id: The id the client chose (the name is sealed to it).
            name: The sealed name (epoch 1).
            owner_id: The creating user, made owner.
            owner_device_id: The creating device (sender of the envelopes).
            envelopes: The epoch-1 key sealed to the creator's devices.
            now: Server time.

        Returns:
            The new channel.

        Raises:
            ConflictError: A channel with this id exists.
            NotFoundError: An envelope's recipient device does not exist.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO channels (id, key_epoch, name_epoch, name_device_id, sealed_name, "
                    "name_signature, created_by, created_at, updated_at) "
                    "VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $7)",
                    channel_id,
                    name.key_epoch,
                    name.device_id,
                    name.sealed_name,
                    name.signature,
                    owner_id,
                    now,
                )
            except asyncpg.UniqueViolationError:
                raise ConflictError("channel") from None
            await conn.execute("INSERT INTO channel_sequences (channel_id) VALUES ($1)", channel_id)
            await conn.execute(
                "INSERT INTO channel_members (channel_id, user_id, role, added_by, added_at) "
                "VALUES ($1, $2, 'owner', NULL, $3)",
                channel_id,
                owner_id,
                now,
            )
            await _insert_envelopes(conn, channel_id, 1, owner_device_id, envelopes, now)
            row = await conn.fetchrow(f"{_SELECT_CHANNEL} WHERE c.id = $1", channel_id)
        return _rows.channel(row)

    async def get(self, channel_id: str) -> ChannelRecord | None:
        """Return a channel by id, or None.

        Args:
            channel_id: The channel.

        Returns:
            The channel or None.
        """
        row = await self._pool.fetchrow(f"{_SELECT_CHANNEL} WHERE c.id = $1", channel_id)
        return None if row is None else _rows.channel(row)

    async def view(self, channel_id: str, user_id: str) -> ChannelView | None:
        """Return the channel as a member sees it, or None when not a member (or no channel).

        Args:
            channel_id: The channel.
            user_id: The member.

        Returns:
            The channel with the member's role and read marker, or None.
        """
        row = await self._pool.fetchrow(
            f"SELECT {_rows.CHANNEL_COLUMNS}, m.role, r.seq AS read_seq FROM channels c "
            "JOIN channel_sequences s ON s.channel_id = c.id "
            "JOIN channel_members m ON m.channel_id = c.id AND m.user_id = $2 "
            "LEFT JOIN read_markers r ON r.channel_id = c.id AND r.user_id = $2 "
            "WHERE c.id = $1",
            channel_id,
            user_id,
        )
        return None if row is None else _view(row)

    async def list_for_user(self, user_id: str) -> list[ChannelView]:
        """Return the channels the user is a member of, oldest first.

        Args:
            user_id: The user.

        Returns:
            The channels with the user's role and read marker.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.CHANNEL_COLUMNS}, m.role, r.seq AS read_seq FROM channel_members m "
            "JOIN channels c ON c.id = m.channel_id "
            "JOIN channel_sequences s ON s.channel_id = c.id "
            "LEFT JOIN read_markers r ON r.channel_id = c.id AND r.user_id = m.user_id "
            "WHERE m.user_id = $1 ORDER BY c.created_at, c.id",
            user_id,
        )
        return [_view(row) for row in rows]

    async def rename(self, channel_id: str, name: ChannelName, *, now: datetime) -> None:
        """Replace the channel's sealed name; it must be sealed under the current epoch.

        Args:
            channel_id: The channel.
            name: The new sealed name.
            now: Server time.

        Raises:
            NotFoundError: No such channel.
            StaleEpochError: The name is not sealed under the current epoch.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            current = await _lock_channel(conn, channel_id)
            if name.key_epoch != current:
                raise StaleEpochError(current)
            await conn.execute(
                "UPDATE channels SET name_epoch = $2, name_device_id = $3, sealed_name = $4, "
                "name_signature = $5, updated_at = $6 WHERE id = $1",
                channel_id,
                name.key_epoch,
                name.device_id,
                name.sealed_name,
                name.signature,
                now,
            )

    async def delete(self, channel_id: str) -> list[str]:
        """Delete a channel with its members, envelopes, read markers and messages.

        Args:
            channel_id: The channel.

        Returns:
            The user ids that were members (to tell them).

        Raises:
            NotFoundError: No such channel.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_channel(conn, channel_id)
            members = await conn.fetch(
                "SELECT user_id FROM channel_members WHERE channel_id = $1", channel_id
            )
            await conn.execute("DELETE FROM channels WHERE id = $1", channel_id)
        return [_rows.text_id(row["user_id"]) for row in members]

    async def rotate_key(
        self,
        channel_id: str,
        *,
        new_epoch: int,
        sender_device_id: str,
        envelopes: Sequence[EnvelopeUpload],
        name: ChannelName | None,
        now: datetime,
    ) -> None:
        """Move the channel to `new_epoch` (current + 1) with the new epoch's envelopes.

        Args:
            channel_id: The channel.
            new_epoch: Must be exactly the current epoch + 1 (a concurrent rotation loses).
            sender_device_id: Device that made the new key and its envelopes.
            envelopes: The new key sealed to the remaining member devices.
            name: The name re-sealed under the new epoch, or None to keep the old one.
            now: Server time.

        Raises:
            NotFoundError: No such channel, or a recipient device does not exist.
            StaleEpochError: `new_epoch` is not current + 1 (or the name's epoch is not it).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            current = await _lock_channel(conn, channel_id)
            if new_epoch != current + 1 or (name is not None and name.key_epoch != new_epoch):
                raise StaleEpochError(current)
            await conn.execute(
                "UPDATE channels SET key_epoch = $2, updated_at = $3 WHERE id = $1",
                channel_id,
                new_epoch,
                now,
            )
            if name is not None:
                await conn.execute(
                    "UPDATE channels SET name_epoch = $2, name_device_id = $3, sealed_name = $4, "
                    "name_signature = $5 WHERE id = $1",
                    channel_id,
                    name.key_epoch,
                    name.device_id,
                    name.sealed_name,
                    name.signature,
                )
            await _insert_envelopes(conn, channel_id, new_epoch, sender_device_id, envelopes, now)

    # -- members ----------------------------------------------------------------------------

    async def is_member(self, user_id: str, channel_id: str) -> bool:
        """Return whether the user is a member of the channel (False if it does not exist).

        Args:
            user_id: The user.
            channel_id: The channel.

        Returns:
            Membership.
        """
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1 AND user_id = $2)",
            channel_id,
            user_id,
        )
        return found

    async def role_of(self, user_id: str, channel_id: str) -> Role | None:
        """Return the user's role in the channel, or None when not a member.

        Args:
            user_id: The user.
            channel_id: The channel.

        Returns:
            The role or None.
        """
        role: Role | None = await self._pool.fetchval(
            "SELECT role FROM channel_members WHERE channel_id = $1 AND user_id = $2",
            channel_id,
            user_id,
        )
        return role

    async def member_user_ids(self, channel_id: str) -> list[str]:
        """Return the user ids of the channel's members.

        Args:
            channel_id: The channel.

        Returns:
            User ids (empty for an unknown channel).
        """
        rows = await self._pool.fetch(
            "SELECT user_id FROM channel_members WHERE channel_id = $1 ORDER BY user_id",
            channel_id,
        )
        return [_rows.text_id(row["user_id"]) for row in rows]

    async def channel_ids_of_user(self, user_id: str) -> list[str]:
        """Return the ids of the channels the user is a member of.

        Args:
            user_id: The user.

        Returns:
            Channel ids.
        """
        rows = await self._pool.fetch(
            "SELECT channel_id FROM channel_members WHERE user_id = $1 ORDER BY channel_id",
            user_id,
        )
        return [_rows.text_id(row["channel_id"]) for row in rows]

    async def co_member_user_ids(self, user_id: str) -> list[str]:
        """Return every user sharing at least one channel with `user_id` (itself included).

        Args:
            user_id: The user.

        Returns:
            User ids.
        """
        rows = await self._pool.fetch(
            "SELECT DISTINCT other.user_id FROM channel_members mine "
            "JOIN channel_members other ON other.channel_id = mine.channel_id "
            "WHERE mine.user_id = $1 ORDER BY other.user_id",
            user_id,
        )
        return [_rows.text_id(row["user_id"]) for row in rows]

    async def members(self, channel_id: str) -> list[MemberRecord]:
        """Return the channel's memberships.

        Args:
            channel_id: The channel.

        Returns:
            Memberships ordered by when they were added.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.MEMBER_COLUMNS} FROM channel_members WHERE channel_id = $1 "
            "ORDER BY added_at, user_id",
            channel_id,
        )
        return [_rows.member(row) for row in rows]

    async def add_member(
        self,
        channel_id: str,
        user_id: str,
        *,
        role: Role,
        added_by: str,
        key_epoch: int,
        sender_device_id: str,
        envelopes: Sequence[EnvelopeUpload],
        now: datetime,
    ) -> MemberRecord:
        """Add a user to a channel with the current key's envelopes for their devices.

        Args:
            channel_id: The channel.
            user_id: The user to add.
            role: The role to give.
            added_by: The acting user.
            key_epoch: Must be the channel's current epoch.
            sender_device_id: The acting device (sender of the envelopes).
            envelopes: The current key sealed to the new member's devices.
            now: Server time.

        Returns:
            The membership.

        Raises:
            AlreadyMemberError: The user is already a member.
            NotFoundError: The channel, user or a recipient device does not exist.
            StaleEpochError: `key_epoch` is not current.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            current = await _lock_channel(conn, channel_id)
            if key_epoch != current:
                raise StaleEpochError(current)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO channel_members (channel_id, user_id, role, added_by, added_at) "
                    f"VALUES ($1, $2, $3, $4, $5) RETURNING {_rows.MEMBER_COLUMNS}",
                    channel_id,
                    user_id,
                    role,
                    added_by,
                    now,
                )
            except asyncpg.UniqueViolationError:
                raise AlreadyMemberError from None
            except asyncpg.ForeignKeyViolationError:
                raise NotFoundError("user") from None
            await _insert_envelopes(conn, channel_id, key_epoch, sender_device_id, envelopes, now)
        return _rows.member(row)

    async def set_role(self, channel_id: str, user_id: str, role: Role) -> MemberRecord:
        """Change a member's role, refusing to demote the last owner.

        Args:
            channel_id: The channel.
            user_id: The member.
            role: The new role.

        Returns:
            The updated membership.

        Raises:
            NotMemberError: The user is not a member.
            LastOwnerError: The member is the last owner and `role` is not owner.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_channel(conn, channel_id)
            current = await _role(conn, channel_id, user_id)
            if current == "owner" and role != "owner":
                await _require_another_owner(conn, channel_id, user_id)
            row = await conn.fetchrow(
                "UPDATE channel_members SET role = $3 WHERE channel_id = $1 AND user_id = $2 "
                f"RETURNING {_rows.MEMBER_COLUMNS}",
                channel_id,
                user_id,
                role,
            )
        return _rows.member(row)

    async def remove_member(self, channel_id: str, user_id: str) -> None:
        """Remove a user from a channel (and their read marker), keeping at least one owner.

        Args:
            channel_id: The channel.
            user_id: The member to remove.

        Raises:
            NotMemberError: The user is not a member.
            LastOwnerError: The member is the last owner.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock_channel(conn, channel_id)
            if await _role(conn, channel_id, user_id) == "owner":
                await _require_another_owner(conn, channel_id, user_id)
            await conn.execute(
                "DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2",
                channel_id,
                user_id,
            )
            await conn.execute(
                "DELETE FROM read_markers WHERE channel_id = $1 AND user_id = $2",
                channel_id,
                user_id,
            )

    # -- envelopes --------------------------------------------------------------------------

    async def put_envelopes(
        self,
        channel_id: str,
        *,
        key_epoch: int,
        sender_device_id: str,
        envelopes: Sequence[EnvelopeUpload],
        now: datetime,
    ) -> int:
        """Store (or replace) envelopes of a channel key epoch the channel has reached.

        Args:
            channel_id: The channel.
            key_epoch: 1..current epoch.
            sender_device_id: Device that sealed the envelopes.
            envelopes: The envelopes.
            now: Server time.

        Returns:
            How many envelopes were stored.

        Raises:
            NotFoundError: No such channel, or a recipient device does not exist.
            StaleEpochError: The epoch is in the future.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT key_epoch FROM channels WHERE id = $1 FOR SHARE", channel_id
            )
            if current is None:
                raise NotFoundError("channel")
            if not 1 <= key_epoch <= current:
                raise StaleEpochError(current)
            await _insert_envelopes(conn, channel_id, key_epoch, sender_device_id, envelopes, now)
        return len({envelope.recipient_device_id for envelope in envelopes})

    async def envelopes_for_device(
        self, device_id: str, *, channel_id: str | None = None, key_epoch: int | None = None
    ) -> list[ChannelEnvelope]:
        """Return the channel key envelopes addressed to a device, in channels its user is in.

        Args:
            device_id: The recipient device.
            channel_id: Only this channel, or every channel when None.
            key_epoch: Only this epoch, or every epoch when None.

        Returns:
            Envelopes by channel and ascending epoch.
        """
        rows = await self._pool.fetch(
            "SELECT e.channel_id, e.key_epoch, e.sender_device_id, e.recipient_device_id, "
            "e.sealed_key, e.signature, e.created_at FROM channel_key_envelopes e "
            "JOIN devices d ON d.id = e.recipient_device_id "
            "JOIN channel_members m ON m.channel_id = e.channel_id AND m.user_id = d.user_id "
            "WHERE e.recipient_device_id = $1 AND ($2::uuid IS NULL OR e.channel_id = $2) "
            "AND ($3::integer IS NULL OR e.key_epoch = $3) ORDER BY e.channel_id, e.key_epoch",
            device_id,
            channel_id,
            key_epoch,
        )
        return [_rows.channel_envelope(row) for row in rows]


def _view(row: _rows.Row) -> ChannelView:
    read_seq = row["read_seq"]
    return ChannelView(
        channel=_rows.channel(row), role=row["role"], read_seq=0 if read_seq is None else read_seq
    )


async def _lock_channel(conn: Any, channel_id: str) -> int:
    # Row lock on the channel serializes renames, rotations and membership changes per channel.
    current: int | None = await conn.fetchval(
        "SELECT key_epoch FROM channels WHERE id = $1 FOR UPDATE", channel_id
    )
    if current is None:
        raise NotFoundError("channel")
    return current


async def _role(conn: Any, channel_id: str, user_id: str) -> Role:
    role: Role | None = await conn.fetchval(
        "SELECT role FROM channel_members WHERE channel_id = $1 AND user_id = $2",
        channel_id,
        user_id,
    )
    if role is None:
        raise NotMemberError("member")
    return role


async def _require_another_owner(conn: Any, channel_id: str, user_id: str) -> None:
    others = await conn.fetchval(
        "SELECT count(*) FROM channel_members WHERE channel_id = $1 AND role = 'owner' "
        "AND user_id <> $2",
        channel_id,
        user_id,
    )
    if others == 0:
        raise LastOwnerError


async def _insert_envelopes(
    conn: Any,
    channel_id: str,
    key_epoch: int,
    sender_device_id: str,
    envelopes: Sequence[EnvelopeUpload],
    now: datetime,
) -> None:
    if not envelopes:
        return
    try:
        await conn.executemany(
            "INSERT INTO channel_key_envelopes (channel_id, key_epoch, recipient_device_id, "
            "sender_device_id, sealed_key, signature, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (channel_id, key_epoch, recipient_device_id) DO UPDATE "
            "SET sender_device_id = EXCLUDED.sender_device_id, sealed_key = EXCLUDED.sealed_key, "
            "signature = EXCLUDED.signature, created_at = EXCLUDED.created_at",
            [
                (
                    channel_id,
                    key_epoch,
                    envelope.recipient_device_id,
                    sender_device_id,
                    envelope.sealed_key,
                    envelope.signature,
                    now,
                )
                for envelope in envelopes
            ],
        )
    except asyncpg.ForeignKeyViolationError:
        raise NotFoundError("device") from None
