"""The session store's authentication lookup: one statement per authenticated request, which also
refreshes `last_used_at` at most once per `LAST_USED_GRANULARITY`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from dialtone.server.storage import Storage
from dialtone.server.storage.records import DeviceKeys
from dialtone.server.storage.sessions import LAST_USED_GRANULARITY

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = DeviceKeys(x25519_public=b"x" * 32, ed25519_public=b"e" * 32, key_signature=b"s" * 64)


class QueryLog:
    """Collects the text of every statement the pool's connections run for the store (not the
    pool's own connection reset on release)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def __call__(self, record: Any) -> None:
        if not record.query.startswith("SELECT pg_advisory_unlock_all()"):
            self.queries.append(record.query)

    async def attach(self, conn: Any) -> None:
        conn.add_query_logger(self)


@pytest.fixture
def query_log() -> QueryLog:
    return QueryLog()


@pytest.fixture
async def storage(db_url: str, query_log: QueryLog) -> AsyncIterator[Storage]:
    pool: Any = await asyncpg.create_pool(db_url, min_size=1, max_size=4, init=query_log.attach)
    try:
        yield Storage(pool)
    finally:
        await pool.close()


async def _session(storage: Storage, *, ttl: timedelta = timedelta(hours=1)) -> tuple[bytes, str]:
    invite = uuid.uuid4().bytes
    await storage.invites.create(
        invite_id=str(uuid.uuid4()),
        token_digest=invite,
        created_by=None,
        note=None,
        now=NOW,
        expires_at=NOW + timedelta(days=1),
    )
    user, device = await storage.users.register(
        invite_digest=invite,
        user_id=str(uuid.uuid4()),
        username_hash=uuid.uuid4().bytes,
        password_hash="x",
        device_id=str(uuid.uuid4()),
        device_keys=KEYS,
        now=NOW,
    )
    digest = uuid.uuid4().bytes
    await storage.sessions.create(
        session_id=str(uuid.uuid4()),
        token_digest=digest,
        user_id=user.user_id,
        device_id=device.device_id,
        now=NOW,
        expires_at=NOW + ttl,
    )
    return digest, user.user_id


async def _stored_last_used(storage: Storage, user_id: str) -> datetime | None:
    (record,) = await storage.sessions.list_for_user(user_id, now=NOW)
    return record.last_used_at


async def test_authentication_is_one_statement_also_when_it_refreshes_last_use(
    storage: Storage, query_log: QueryLog
) -> None:
    """Within the granularity nothing is written; after it, the same single statement stores the
    new time of use and reports it."""
    digest, user_id = await _session(storage)
    soon = NOW + LAST_USED_GRANULARITY / 2
    query_log.queries.clear()
    session = await storage.sessions.authenticate(digest, now=soon)
    assert len(query_log.queries) == 1
    assert session is not None
    assert session.user_id == user_id
    assert session.last_used_at == NOW
    assert await _stored_last_used(storage, user_id) == NOW
    later = NOW + LAST_USED_GRANULARITY
    query_log.queries.clear()
    session = await storage.sessions.authenticate(digest, now=later)
    assert len(query_log.queries) == 1
    assert session is not None
    assert session.last_used_at == later
    assert await _stored_last_used(storage, user_id) == later


async def test_expired_revoked_and_unknown_sessions_do_not_authenticate(
    storage: Storage, query_log: QueryLog
) -> None:
    """Nothing is returned (or touched) for an expired session, a revoked device's session, or
    an unknown token."""
    expired, expired_user = await _session(storage, ttl=timedelta(minutes=5))
    past_expiry = NOW + timedelta(minutes=5)
    assert await storage.sessions.authenticate(expired, now=past_expiry) is None
    (record,) = await storage.sessions.list_for_user(expired_user, now=NOW)
    assert record.last_used_at == NOW
    revoked, revoked_user = await _session(storage)
    (device,) = await storage.devices.list_for_user(revoked_user)
    await storage.devices.revoke(device.device_id, user_id=revoked_user, now=NOW)
    assert await storage.sessions.authenticate(revoked, now=NOW) is None
    query_log.queries.clear()
    assert await storage.sessions.authenticate(uuid.uuid4().bytes, now=NOW) is None
    assert len(query_log.queries) == 1
