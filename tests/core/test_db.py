"""The engine's connection pool: the connection returned last is handed out first, and a
pooled connection the server closed is replaced at checkout, never handed to a request
(which would fail with a 5xx)."""

from __future__ import annotations

from sqlalchemy import text

from app.db import create_engine


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    killer = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with killer.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await other.commit()
        async with engine.connect() as conn:  # the pool's only connection is dead
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_the_pool_hands_out_the_connection_returned_last(database_url: str) -> None:
    """A steady load reuses a few warm connections (and their prepared statements) instead
    of cycling through the whole pool."""
    engine = create_engine(database_url, pool_size=3, max_overflow=0)
    try:
        first, second = await engine.connect(), await engine.connect()
        pids = [await c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
        await first.close()
        await second.close()  # returned last
        for _ in range(3):
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT pg_backend_pid()")) == pids[1]
    finally:
        await engine.dispose()
