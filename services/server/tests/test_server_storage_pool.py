"""The pool's release: no reset round trip for a clean connection, a rollback for one left in a
transaction."""

from __future__ import annotations

from typing import Any

from dialtone.server.storage import create_pool


async def test_a_clean_connection_goes_back_without_a_reset_statement(db_url: str) -> None:
    pool: Any = await create_pool(db_url, min_size=1, max_size=1)
    queries: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: queries.append(record.query))
            assert await conn.fetchval("SELECT 1") == 1
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT 2") == 2
    finally:
        await pool.close()
    assert queries == ["SELECT 1", "SELECT 2"]


async def test_a_connection_left_in_a_transaction_is_rolled_back(db_url: str) -> None:
    pool: Any = await create_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS pool_probe (n int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
            assert conn.is_in_transaction()
        async with pool.acquire() as conn:  # the same (only) connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
    finally:
        await pool.close()
