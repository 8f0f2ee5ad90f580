"""Which realms have work due: what the sweeper re-hints."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keys import EntityKey
from app.db import utcnow
from app.events import lifecycle as event_store
from app.sync.locks import lock_id

ORPHAN_SCAN = 200


async def due_realms(session: AsyncSession, limit: int) -> list[str]:
    """Realms with at least one event whose turn has come: pending, retrying or waiting for
    a dependency past its deadline, or left `syncing` by a worker that died."""
    return await event_store.due_realms(session, utcnow(), limit)


async def reclaim_orphans(session: AsyncSession, limit: int = ORPHAN_SCAN) -> list[EntityKey]:
    """Make due at once the `syncing` events whose worker died: their lease runs for
    minutes, but a live sync always holds its record's advisory lock, so a record in
    `syncing` whose lock is free has nobody working on it. Returns the records reclaimed.

    The lock is taken and dropped at once; a worker claiming it in that instant finds the
    record busy and comes back a second later. The caller's unit of work commits.
    """
    now = utcnow()
    orphans = []
    for key in await event_store.syncing_records(session, now, limit):
        if await session.scalar(select(func.pg_try_advisory_lock(lock_id(key)))):
            await session.scalar(select(func.pg_advisory_unlock(lock_id(key))))
            orphans.append(key)
    if orphans:
        await event_store.end_leases(session, orphans, now)
    return orphans
