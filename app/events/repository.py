"""Queries over stored events: one by id, filtered listings with keyset pagination, the
deletion of one company's events, and (in a block of their own) what other domains read and
change of events: connections park and resume them, drift restores and checks writes in
flight, the ops console lists them. No package outside events/ and sync/ touches `Event`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keys import EntityKey
from app.db import utcnow
from app.events.models import DUE_STATUSES, Event, EventStatus, payload_hash
from app.events.references import applied_to, names_customer
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


async def event_of_caller(session: AsyncSession, source: str, event_id: str) -> Event | None:
    """The event a source stored under its own `event_id`, if any."""
    return await session.scalar(
        select(Event).where(Event.source == source, Event.event_id == event_id)
    )


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


# -- for other domains: connections, drift, the ops console --------------------------------


async def resume_waiting_connection(session: AsyncSession, realm_id: str) -> list[EntityKey]:
    """Send the realm's events parked for its connection back to `pending`, due now (it was
    connected again). Returns their records, each once, for the caller to hint."""
    now = utcnow()
    released = await session.execute(
        update(Event)
        .where(Event.realm_id == realm_id, Event.status == EventStatus.WAITING_CONNECTION)
        .values(status=EventStatus.PENDING, next_attempt_at=now, updated_at=now)
        .returning(Event.entity_type, Event.external_id)
    )
    return list(dict.fromkeys(EntityKey(realm_id, t, e) for t, e in released))


async def park_for_connection(session: AsyncSession, realm_id: str) -> None:
    """Park the realm's due events in `waiting_connection` until it is reconnected.

    Not `syncing` ones, and none a sync holds: their worker parks them itself when it finds
    the connection gone, knowing whether its write may have reached QBO. Skipping locked
    rows also keeps this from deadlocking with the sync engine's transactions.
    """
    parkable = (
        select(Event.id)
        .where(
            Event.realm_id == realm_id,
            Event.status.in_([s for s in DUE_STATUSES if s != EventStatus.SYNCING]),
        )
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(Event)
        .where(Event.id.in_(parkable.scalar_subquery()))
        .values(status=EventStatus.WAITING_CONNECTION, updated_at=utcnow())
    )


async def repeat_event(session: AsyncSession, original: Event, event_id: str, note: str) -> Event:
    """Add a new pending event of `original`'s source and record carrying its payload again,
    as `event_id` (flushed, so its id can be referred to).

    It keeps `original`'s `occurred_at`: its state is the one it repeats, so any newer event
    of the caller's still wins over it.
    """
    payload = {**original.payload, "event_id": event_id}
    now = utcnow()
    event = Event(
        id=uuid.uuid4(),
        source=original.source,
        event_id=event_id,
        realm_id=original.realm_id,
        entity_type=original.entity_type,
        external_id=original.external_id,
        operation=original.operation,
        payload=payload,
        payload_hash=payload_hash(payload),
        occurred_at=original.occurred_at,
        received_at=now,
        updated_at=now,
        status=EventStatus.PENDING,
        next_attempt_at=now,
        note=note,
    )
    session.add(event)
    await session.flush()
    return event


# How the payload of an event of another type refers to a record of this type.
_REFERRING: dict[str, Callable[[Any, str], ColumnElement[bool]]] = {
    "customer": names_customer,
    "invoice": applied_to,
}


async def write_syncing(
    session: AsyncSession,
    realm_id: str,
    entity_type: str,
    external_id: str,
    writers: Sequence[str] = (),
) -> bool:
    """Whether an event writing this record is `syncing`: one of the record itself, or one
    of the types in `writers` whose payload refers to it (an invoice or payment naming the
    customer, a payment applied to the invoice). One EXISTS query: the payloads stay in
    PostgreSQL."""
    writes = [and_(Event.entity_type == entity_type, Event.external_id == external_id)]
    refers = _REFERRING.get(entity_type)
    if writers and refers is not None:
        writes.append(and_(Event.entity_type.in_(writers), refers(Event, external_id)))
    found = await session.scalar(
        select(
            exists().where(
                Event.realm_id == realm_id,
                Event.status == EventStatus.SYNCING,
                or_(*writes),
            )
        )
    )
    return bool(found)


def sent_by(source: str, realm_id: Any, entity_type: Any, external_id: Any) -> ColumnElement[bool]:
    """An SQL condition for another table's query: some event of `source` names the record
    in these columns (`ix_events_entity_order` answers it)."""
    return exists().where(
        Event.realm_id == realm_id,
        Event.entity_type == entity_type,
        Event.external_id == external_id,
        Event.source == source,
    )


async def dead_events(
    session: AsyncSession, realm_id: str | None = None, limit: int = 50
) -> list[Event]:
    """Dead events, newest first (a LIMITed seek on `ix_events_status_received`)."""
    query = select(Event).where(Event.status == EventStatus.DEAD)
    if realm_id is not None:
        query = query.where(Event.realm_id == realm_id)
    query = query.order_by(Event.received_at.desc(), Event.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def recent_events(
    session: AsyncSession, realm_id: str, status: str | None = None, limit: int = 50
) -> list[Event]:
    """A realm's events, newest first, optionally of one status (a LIMITed seek on
    `ix_events_realm_received`)."""
    query = select(Event).where(Event.realm_id == realm_id)
    if status is not None:
        query = query.where(Event.status == status)
    query = query.order_by(Event.received_at.desc(), Event.id.desc()).limit(limit)
    return list(await session.scalars(query))
