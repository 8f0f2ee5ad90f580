"""Which realms have work due: what the sweeper re-hints."""

from __future__ import annotations

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keys import EntityKey
from app.db import utcnow
from app.events.models import DUE_STATUSES, Event, EventStatus
from app.sync.engine import lock_id

ORPHAN_SCAN = 200


async def due_realms(session: AsyncSession, limit: int) -> list[str]:
    """Realms with at least one event whose turn has come: pending, retrying or waiting for
    a dependency past its deadline, or left `syncing` by a worker that died."""
    rows = await session.scalars(
        select(Event.realm_id)
        .where(Event.status.in_(DUE_STATUSES), Event.next_attempt_at <= utcnow())
        .group_by(Event.realm_id)
        .order_by(Event.realm_id)
        .limit(limit)
    )
    return list(rows)


async def reclaim_orphans(session: AsyncSession, limit: int = ORPHAN_SCAN) -> list[EntityKey]:
    """Make due at once the `syncing` events whose worker died: their lease runs for
    minutes, but a live sync always holds its record's advisory lock, so a record in
    `syncing` whose lock is free has nobody working on it. Returns the records reclaimed.

    The lock is taken and dropped at once; a worker claiming it in that instant finds the
    record busy and comes back a second later.
    """
    now = utcnow()
    rows = await session.execute(
        select(Event.realm_id, Event.entity_type, Event.external_id)
        .where(Event.status == EventStatus.SYNCING.value, Event.next_attempt_at > now)
        .group_by(Event.realm_id, Event.entity_type, Event.external_id)
        .limit(limit)
    )
    orphans = []
    for realm_id, entity_type, external_id in rows.all():
        key = EntityKey(realm_id, entity_type, external_id)
        if await session.scalar(select(func.pg_try_advisory_lock(lock_id(key)))):
            await session.scalar(select(func.pg_advisory_unlock(lock_id(key))))
            orphans.append(key)
    if orphans:
        await session.execute(
            update(Event)
            .where(
                Event.status == EventStatus.SYNCING.value,
                tuple_(Event.realm_id, Event.entity_type, Event.external_id).in_(
                    [(k.realm_id, k.entity_type, k.external_id) for k in orphans]
                ),
            )
            .values(next_attempt_at=now)
        )
    await session.commit()
    return orphans
