"""Queries over stored events: one by id, filtered listings with keyset pagination, and the
deletion of one company's events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event
from app.pagination import newest_first


@dataclass(frozen=True, slots=True)
class EventFilter:
    status: str | None = None
    realm_id: str | None = None
    entity_type: str | None = None
    external_id: str | None = None
    source: str | None = None


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> Event | None:
    return await session.get(Event, event_id)


async def list_events(
    session: AsyncSession, filters: EventFilter, limit: int, cursor: str | None
) -> tuple[list[Event], str | None]:
    """Newest first. Returns the page and the cursor of the next one (None at the end)."""
    query = select(Event)
    if filters.status:
        query = query.where(Event.status == filters.status)
    if filters.realm_id:
        query = query.where(Event.realm_id == filters.realm_id)
    if filters.entity_type:
        query = query.where(Event.entity_type == filters.entity_type)
    if filters.external_id:
        query = query.where(Event.external_id == filters.external_id)
    if filters.source:
        query = query.where(Event.source == filters.source)
    return await newest_first(session, query, Event.received_at, Event.id, limit, cursor)


async def delete_events_of_realm(session: AsyncSession, realm_id: str) -> int:
    """Delete every event of one company; returns how many (the caller decides when that is
    right: `python -m app events discard`, for a company that was never connected)."""
    result = await session.execute(delete(Event).where(Event.realm_id == realm_id))
    return int(getattr(result, "rowcount", 0) or 0)
