"""The engine's connection pool: a pooled connection the server closed is replaced at
checkout, never handed to a request (which would fail with a 5xx); and the statements run
over it keep one text for any number of values."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine
from app.events.lifecycle import set_status
from app.events.models import EventStatus
from app.mappings.repository import qbo_ids_of


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


async def test_lists_of_values_keep_one_statement_text(database_url: str) -> None:
    """A list of values travels as one array: the same query for 1 or 40 values is one
    statement, and so one prepared statement per connection (an `IN ($1, ..., $n)` per
    length filled every pooled connection's cache with copies of it)."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    seen: set[str] = set()

    def remember(*args: Any) -> None:
        seen.add(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", remember)
    try:
        async with AsyncSession(engine) as session:
            for size in (1, 2, 7, 40):
                records = [("customer", f"c-{n}") for n in range(size)]
                assert await qbo_ids_of(session, "realm-1", records) == {}
                ids = [uuid.uuid4() for _ in range(size)]
                await set_status(session, ids, EventStatus.SUPERSEDED)
            await session.rollback()
    finally:
        await engine.dispose()
    assert len([s for s in seen if "entity_mappings" in s]) == 1, seen
    assert len([s for s in seen if s.startswith("UPDATE events")]) == 1, seen
