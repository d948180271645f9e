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


async def reset_connection(conn: Any) -> None:
    """Make a released connection fit for the next user of the pool.

    asyncpg's default reset runs ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    on every release: one more round trip per pooled query, paid before `Pool.fetch` and friends
    return. The server never takes advisory locks, opens cursors or changes settings, and its one
    LISTEN connection unlistens itself before it goes back (`storage.notify`), so the only state a
    connection can come back with is an interrupted transaction: roll that back.

    Args:
        conn: The connection being released.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(db_url: str, *, min_size: int, max_size: int) -> Any:
    """Open the asyncpg pool.

    Args:
        db_url: `postgresql://` URL.
        min_size: Smallest pool size.
        max_size: Largest pool size.

    Returns:
        An `asyncpg.Pool` whose connections are reset by `reset_connection`.
    """
    return await asyncpg.create_pool(
        db_url, min_size=min_size, max_size=max_size, reset=reset_connection
    )
