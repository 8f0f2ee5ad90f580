"""Which entities have work due, and what happens to an entity's events before QBO is called."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionStatus
from app.db import utcnow
from app.events.models import DUE_STATUSES, Event, EventStatus
from app.events.service import EntityKey


async def due_entities(session: AsyncSession, limit: int) -> list[EntityKey]:
    """Entities with at least one event whose turn has come (pending or retrying, due now)."""
    rows = await session.execute(
        select(Event.realm_id, Event.entity_type, Event.external_id)
        .where(Event.status.in_(DUE_STATUSES), Event.next_attempt_at <= utcnow())
        .group_by(Event.realm_id, Event.entity_type, Event.external_id)
        .order_by(Event.realm_id, Event.entity_type, Event.external_id)
        .limit(limit)
    )
    return [EntityKey(r.realm_id, r.entity_type, r.external_id) for r in rows]


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str
    events: int


async def park_unless_connected(session: AsyncSession, key: EntityKey) -> Outcome:
    """Move the entity's due events to `waiting_connection` when its realm has no active connection.

    The events are kept as they are; connecting the realm is what releases them.
    Returns `waiting_connection` with the number parked, or `connected` when QBO can be called.
    """
    status = await session.scalar(
        select(Connection.status).where(Connection.realm_id == key.realm_id)
    )
    if status == ConnectionStatus.ACTIVE.value:
        return Outcome("connected", 0)
    result = await session.execute(
        update(Event)
        .where(
            Event.realm_id == key.realm_id,
            Event.entity_type == key.entity_type,
            Event.external_id == key.external_id,
            Event.status.in_(DUE_STATUSES),
        )
        .values(status=EventStatus.WAITING_CONNECTION.value, updated_at=utcnow())
    )
    return Outcome("waiting_connection", int(result.rowcount or 0))  # type: ignore[attr-defined]
