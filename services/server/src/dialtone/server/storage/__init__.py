"""Storage: all SQL of the server, one class per domain, behind the `Storage` facade."""

from __future__ import annotations

from typing import Any

import asyncpg

from dialtone.server.storage.channels import ChannelStore
from dialtone.server.storage.devices import DeviceStore
from dialtone.server.storage.directory import DirectoryStore
from dialtone.server.storage.invites import InviteStore
from dialtone.server.storage.messages import MessageStore
from dialtone.server.storage.sessions import SessionStore
from dialtone.server.storage.users import UserStore

__all__ = ["Storage", "create_pool"]


class Storage:
    """One object holding every domain store, all sharing one asyncpg pool.

    Args:
        pool: The asyncpg pool.

    Attributes:
        pool: The pool (for health checks and the realtime side's LISTEN connection).
        users: Accounts.
        sessions: Login sessions.
        devices: Devices and their keys.
        invites: Invites.
        channels: Channels, memberships and channel key envelopes.
        messages: Messages and read markers.
        directory: Encrypted profiles, directory-key envelopes and presence status.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.users = UserStore(pool)
        self.sessions = SessionStore(pool)
        self.devices = DeviceStore(pool)
        self.invites = InviteStore(pool)
        self.channels = ChannelStore(pool)
        self.messages = MessageStore(pool)
        self.directory = DirectoryStore(pool)

    async def ping(self) -> bool:
        """Return whether the database answers.

        Returns:
            True when `SELECT 1` succeeds.
        """
        try:
            return bool(await self.pool.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False


async def create_pool(db_url: str, *, min_size: int, max_size: int) -> Any:
    """Open the asyncpg pool.

    Args:
        db_url: `postgresql://` URL.
        min_size: Smallest pool size.
        max_size: Largest pool size.

    Returns:
        An `asyncpg.Pool`.
    """
    return await asyncpg.create_pool(db_url, min_size=min_size, max_size=max_size)
