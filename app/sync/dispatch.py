"""Which realms have work due: what the sweeper re-hints."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.events.models import DUE_STATUSES, Event


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
