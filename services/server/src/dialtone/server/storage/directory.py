"""Directory store: encrypted profiles, directory-key envelopes and chosen presence status."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import NotFoundError
from dialtone.server.storage.records import (
    DirectoryEnvelope,
    EnvelopeUpload,
    PresenceRecord,
    PresenceStatus,
    ProfileRecord,
)


class DirectoryStore:
    """All SQL about the encrypted directory and presence.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def put_profile(
        self,
        user_id: str,
        *,
        device_id: str,
        key_epoch: int,
        sealed_display_name: bytes,
        signature: bytes,
        now: datetime,
    ) -> ProfileRecord:
        """Create or replace a user's profile.

        Args:
            user_id: The user.
            device_id: Device that sealed and signed it.
            key_epoch: The user's directory-key epoch used.
            sealed_display_name: The sealed display name.
            signature: The device's signature.
            now: Server time.

        Returns:
            The stored profile.
        """
        row = await self._pool.fetchrow(
            f"INSERT INTO profiles ({_rows.PROFILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (user_id) DO UPDATE SET device_id = EXCLUDED.device_id, "
            "key_epoch = EXCLUDED.key_epoch, sealed_display_name = EXCLUDED.sealed_display_name, "
            "signature = EXCLUDED.signature, updated_at = EXCLUDED.updated_at "
            f"RETURNING {_rows.PROFILE_COLUMNS}",
            user_id,
            device_id,
            key_epoch,
            sealed_display_name,
            signature,
            now,
        )
        return _rows.profile(row)

    async def profiles(self, user_ids: Sequence[str]) -> list[ProfileRecord]:
        """Return the profiles of the given users (users without one are left out).

        Args:
            user_ids: The users.

        Returns:
            Profiles ordered by user id.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.PROFILE_COLUMNS} FROM profiles WHERE user_id = ANY($1::uuid[]) "
            "ORDER BY user_id",
            list(user_ids),
        )
        return [_rows.profile(row) for row in rows]

    async def put_envelopes(
        self,
        *,
        owner_user_id: str,
        key_epoch: int,
        sender_device_id: str,
        envelopes: Sequence[EnvelopeUpload],
        now: datetime,
    ) -> int:
        """Store (or replace) envelopes of a user's directory key.

        Args:
            owner_user_id: The user whose directory key is inside.
            key_epoch: Directory-key epoch.
            sender_device_id: The owner's device that sealed the envelopes.
            envelopes: The envelopes.
            now: Server time.

        Returns:
            How many envelopes were stored.

        Raises:
            NotFoundError: A recipient device does not exist.
        """
        try:
            await self._pool.executemany(
                f"INSERT INTO directory_key_envelopes ({_rows.DIRECTORY_ENVELOPE_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (owner_user_id, key_epoch, recipient_device_id) DO UPDATE "
                "SET sender_device_id = EXCLUDED.sender_device_id, "
                "sealed_key = EXCLUDED.sealed_key, signature = EXCLUDED.signature, "
                "created_at = EXCLUDED.created_at",
                [
                    (
                        owner_user_id,
                        key_epoch,
                        sender_device_id,
                        envelope.recipient_device_id,
                        envelope.sealed_key,
                        envelope.signature,
                        now,
                    )
                    for envelope in envelopes
                ],
            )
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError("device") from None
        return len({envelope.recipient_device_id for envelope in envelopes})

    async def envelopes_for_device(self, device_id: str) -> list[DirectoryEnvelope]:
        """Return the directory-key envelopes addressed to a device.

        Args:
            device_id: The recipient device.

        Returns:
            Envelopes by owner and ascending epoch.
        """
        rows = await self._pool.fetch(
            f"SELECT {_rows.DIRECTORY_ENVELOPE_COLUMNS} FROM directory_key_envelopes "
            "WHERE recipient_device_id = $1 ORDER BY owner_user_id, key_epoch",
            device_id,
        )
        return [_rows.directory_envelope(row) for row in rows]

    async def set_presence(self, user_id: str, status: PresenceStatus, *, now: datetime) -> None:
        """Record the status a user chose.

        Args:
            user_id: The user.
            status: online, away, dnd or offline (invisible).
            now: Server time.
        """
        await self._pool.execute(
            "INSERT INTO presence (user_id, status, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, "
            "updated_at = EXCLUDED.updated_at",
            user_id,
            status,
            now,
        )

    async def presence(self, user_ids: Sequence[str]) -> list[PresenceRecord]:
        """Return each user's chosen status (online when never set) and last activity.

        Args:
            user_ids: The users.

        Returns:
            One record per existing user, ordered by user id.
        """
        rows = await self._pool.fetch(
            "SELECT u.id, COALESCE(p.status, 'online') AS status, "
            "(SELECT max(s.last_used_at) FROM sessions s WHERE s.user_id = u.id) AS last_seen "
            "FROM users u LEFT JOIN presence p ON p.user_id = u.id "
            "WHERE u.id = ANY($1::uuid[]) ORDER BY u.id",
            list(user_ids),
        )
        return [
            PresenceRecord(
                user_id=_rows.text_id(row["id"]),
                status=row["status"],
                last_seen_at=row["last_seen"],
            )
            for row in rows
        ]
