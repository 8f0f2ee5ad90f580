"""The engine's connection pool: a pooled connection the server closed is replaced at
checkout, never handed to a request (which would fail with a 5xx)."""

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
