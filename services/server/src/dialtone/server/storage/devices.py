"""Device store: device public keys, approval and revocation."""

# SQL here is built only from constant column lists; every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from dialtone.server.storage import _rows
from dialtone.server.storage.errors import DeviceExistsError, NotFoundError, TooManyDevicesError
from dialtone.server.storage.records import DeviceKeys, DeviceRecord

_SELECT_DEVICE = f"SELECT {_rows.DEVICE_COLUMNS} FROM devices"
_D_COLUMNS = ", ".join("d." + column.strip() for column in _rows.DEVICE_COLUMNS.split(","))


class DeviceStore:
    """All SQL about devices.

    Args:
        pool: The asyncpg pool.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def add(
        self,
        *,
        device_id: str,
        user_id: str,
        keys: DeviceKeys,
        now: datetime,
        max_active: int,
    ) -> DeviceRecord:
        """Add a pending device to an existing user.

        Args:
            device_id: New device id.
            user_id: Owner of the device.
            keys: The device's public keys.
            now: Server time.
            max_active: Most non-revoked devices a user may have.

        Returns:
            The new (pending) device.

        Raises:
            TooManyDevicesError: The user already has `max_active` non-revoked devices.
            DeviceExistsError: A device with these keys is already registered.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            # Lock the user row so two concurrent adds cannot both pass the count.
            await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
            active = await conn.fetchval(
                "SELECT count(*) FROM devices WHERE user_id = $1 AND revoked_at IS NULL", user_id
            )
            if active >= max_active:
                raise TooManyDevicesError
            try:
                row = await conn.fetchrow(
                    "INSERT INTO devices (id, user_id, x25519_public, ed25519_public, "
                    "key_signature, created_at) VALUES ($1, $2, $3, $4, $5, $6) "
                    f"RETURNING {_rows.DEVICE_COLUMNS}",
                    device_id,
                    user_id,
                    keys.x25519_public,
                    keys.ed25519_public,
                    keys.key_signature,
                    now,
                )
            except asyncpg.UniqueViolationError:
                raise DeviceExistsError from None
        return _rows.device(row)

    async def get(self, device_id: str) -> DeviceRecord | None:
        """Return a device by id, or None.

        Args:
            device_id: The device.

        Returns:
            The device or None.
        """
        row = await self._pool.fetchrow(f"{_SELECT_DEVICE} WHERE id = $1", device_id)
        return None if row is None else _rows.device(row)

    async def get_many(self, device_ids: Sequence[str]) -> list[DeviceRecord]:
        """Return the devices among `device_ids` that exist.

        Args:
            device_ids: Device ids.

        Returns:
            The devices found.
        """
        rows = await self._pool.fetch(
            f"{_SELECT_DEVICE} WHERE id = ANY($1::uuid[])", list(device_ids)
        )
        return [_rows.device(row) for row in rows]

    async def list_for_user(self, user_id: str) -> list[DeviceRecord]:
        """Return all devices of a user (pending and revoked ones included), oldest first.

        Args:
            user_id: The user.

        Returns:
            The devices.
        """
        rows = await self._pool.fetch(
            f"{_SELECT_DEVICE} WHERE user_id = $1 ORDER BY created_at, id", user_id
        )
        return [_rows.device(row) for row in rows]

    async def list_for_channel(self, channel_id: str) -> list[DeviceRecord]:
        """Return the devices of a channel's members (pending and revoked ones included).

        Args:
            channel_id: The channel.

        Returns:
            The devices, grouped by user.
        """
        rows = await self._pool.fetch(
            f"SELECT {_D_COLUMNS} FROM devices d JOIN channel_members m ON m.user_id = d.user_id "
            "WHERE m.channel_id = $1 ORDER BY d.user_id, d.created_at, d.id",
            channel_id,
        )
        return [_rows.device(row) for row in rows]

    async def approve(
        self,
        device_id: str,
        *,
        user_id: str,
        approver_device_id: str,
        approval_signature: bytes,
        now: datetime,
    ) -> DeviceRecord:
        """Approve a pending device of `user_id` (approving an approved one changes nothing).

        Args:
            device_id: The device to approve.
            user_id: Its owner (another user's device is never touched).
            approver_device_id: The approving device.
            approval_signature: The approver's signature over the device's keys.
            now: Server time.

        Returns:
            The device after approval.

        Raises:
            NotFoundError: The user has no such non-revoked device.
        """
        row = await self._pool.fetchrow(
            "UPDATE devices SET approved_at = COALESCE(approved_at, $4), "
            "approved_by = CASE WHEN approved_at IS NULL THEN $3 ELSE approved_by END, "
            "approval_signature = CASE WHEN approved_at IS NULL THEN $5 "
            "ELSE approval_signature END WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL "
            f"RETURNING {_rows.DEVICE_COLUMNS}",
            device_id,
            user_id,
            approver_device_id,
            now,
            approval_signature,
        )
        if row is None:
            raise NotFoundError("device")
        return _rows.device(row)

    async def revoke(self, device_id: str, *, user_id: str, now: datetime) -> DeviceRecord:
        """Revoke one of a user's devices and end its sessions, atomically.

        Args:
            device_id: The device.
            user_id: Its owner.
            now: Server time.

        Returns:
            The revoked device.

        Raises:
            NotFoundError: The user has no such non-revoked device.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE devices SET revoked_at = $3 WHERE id = $1 AND user_id = $2 "
                f"AND revoked_at IS NULL RETURNING {_rows.DEVICE_COLUMNS}",
                device_id,
                user_id,
                now,
            )
            if row is None:
                raise NotFoundError("device")
            await conn.execute("DELETE FROM sessions WHERE device_id = $1", device_id)
        return _rows.device(row)
