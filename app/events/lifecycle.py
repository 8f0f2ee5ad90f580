"""An event's life in the sync engine (app/sync): what is due and in which order, what
waits for what, and each state an event moves to. Marks change a loaded event and are
flushed with its transaction; queries run in the caller's. Intake, listings and what other
domains read and change of events are in `app.events.repository`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    String,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.keys import EntityKey
from app.db import one_of, rows_of, utcnow
from app.events.models import DUE_STATUSES, Event, EventStatus
from app.events.references import Refers


def waiting_key(entity_type: str, external_id: str) -> str:
    """How `waiting_for` names the record an event waits for."""
    return f"{entity_type}:{external_id}"


async def due_events_of(session: AsyncSession, key: EntityKey) -> list[Event]:
    """The record's events a worker still has to act on, in apply order."""
    rows = await session.scalars(
        select(Event)
        .where(
            Event.realm_id == key.realm_id,
            Event.entity_type == key.entity_type,
            Event.external_id == key.external_id,
            Event.status.in_(DUE_STATUSES),
        )
        .order_by(Event.occurred_at, Event.received_at, Event.id)
    )
    return list(rows.all())


async def lock_event(session: AsyncSession, event_id: uuid.UUID) -> Event | None:
    """The event as stored now, locked until the transaction ends (its outcome is recorded)."""
    return await session.get(Event, event_id, with_for_update=True, populate_existing=True)


async def occurred_at_of(session: AsyncSession, event_id: uuid.UUID) -> datetime | None:
    return await session.scalar(select(Event.occurred_at).where(Event.id == event_id))


async def latest_event_of(
    session: AsyncSession,
    record: EntityKey,
    *,
    besides: uuid.UUID,
    upserted_until: datetime | None = None,
) -> Row[uuid.UUID, EventStatus, dict[str, Any] | None] | None:
    """(id, status, last error) of the record's latest event other than `besides`; with
    `upserted_until`, of its latest upsert that occurred no later than that."""
    query = select(Event.id, Event.status, Event.last_error).where(
        Event.realm_id == record.realm_id,
        Event.entity_type == record.entity_type,
        Event.external_id == record.external_id,
        Event.id != besides,
    )
    if upserted_until is not None:
        query = query.where(Event.operation == "upserted", Event.occurred_at <= upserted_until)
    result = await session.execute(
        query.order_by(Event.occurred_at.desc(), Event.received_at.desc()).limit(1)
    )
    return result.first()


async def set_status(
    session: AsyncSession, ids: list[uuid.UUID], status: EventStatus, note: str | None = None
) -> None:
    """Move events to `status` (superseded, waiting for their connection) in one statement."""
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if note is not None:
        values["note"] = note
    await session.execute(update(Event).where(one_of(Event.id, ids)).values(**values))


def set_reason(event: Event, reason: dict[str, Any]) -> None:
    """Store why the event is where it is, its status unchanged."""
    event.last_error = reason


def record_sent_request(event: Event, request: dict[str, Any]) -> None:
    """Keep the QBO request last sent for the event ({method, path, query, body}), its
    status unchanged: what `GET /events/{id}/preview` shows once it was sent."""
    event.sent_request = request


def mark_syncing(event: Event, lease_until: datetime, now: datetime) -> None:
    """Taken by a worker: due again at `lease_until` only if that worker dies."""
    if event.status == EventStatus.WAITING_DEPENDENCY:
        event.waiting_for = None
    event.status = EventStatus.SYNCING
    event.next_attempt_at = lease_until
    event.updated_at = now


async def park_waiting(
    session: AsyncSession,
    event: Event,
    waiting_for: str,
    later: datetime,
    note: str,
    now: datetime,
) -> None:
    """The event waits for the record `waiting_for` (until `later` at most), and the record's
    later events with it: they go only after it, and are released with it."""
    event.status = EventStatus.WAITING_DEPENDENCY
    event.waiting_for = waiting_for
    event.next_attempt_at = later
    event.note = note
    event.updated_at = now
    await session.execute(
        update(Event)
        .where(
            Event.realm_id == event.realm_id,
            Event.entity_type == event.entity_type,
            Event.external_id == event.external_id,
            Event.id != event.id,
            Event.status.in_((EventStatus.PENDING, EventStatus.RETRYING)),
        )
        .values(
            status=EventStatus.WAITING_DEPENDENCY,
            waiting_for=waiting_for,
            next_attempt_at=later,
            note=f"waiting behind event {event.id}",
            updated_at=now,
        )
    )


def mark_synced(
    event: Event,
    qbo_id: str,
    note: str | None,
    now: datetime,
    mismatch: dict[str, Any] | None = None,
) -> None:
    """Synced; `mismatch` says how the totals QBO booked differ from the caller's."""
    event.status = EventStatus.SYNCED
    event.mismatch = mismatch
    event.qbo_id = qbo_id
    event.synced_at = now
    event.last_error = None
    event.failing_since = None
    event.waiting_for = None
    event.note = note
    event.updated_at = now


def mark_deferred(event: Event, due_at: datetime, now: datetime) -> None:
    """Not an attempt: the event stays pending (or retrying), due again at `due_at`."""
    previous = EventStatus.RETRYING if event.attempts else EventStatus.PENDING
    event.status = previous
    event.updated_at = now
    event.next_attempt_at = due_at


def count_failed_attempt(event: Event, now: datetime) -> None:
    """One more failed attempt; the run of failures began at the first of them."""
    event.attempts += 1
    event.failing_since = event.failing_since or now


def mark_retrying(event: Event, reason: dict[str, Any], due_at: datetime, now: datetime) -> None:
    event.status = EventStatus.RETRYING
    event.last_error = reason
    event.updated_at = now
    event.next_attempt_at = due_at


def mark_waiting_connection(event: Event, reason: dict[str, Any], now: datetime) -> None:
    event.status = EventStatus.WAITING_CONNECTION
    event.last_error = reason
    event.updated_at = now


def mark_dead(event: Event, reason: dict[str, Any], now: datetime) -> None:
    event.status = EventStatus.DEAD
    event.last_error = reason
    event.waiting_for = None
    event.updated_at = now


async def release_waiting(session: AsyncSession, parent: EntityKey) -> list[EntityKey]:
    """Send the events waiting for `parent` back to pending; returns their other records."""
    now = utcnow()
    rows = await session.execute(
        update(Event)
        .where(
            Event.realm_id == parent.realm_id,
            Event.status == EventStatus.WAITING_DEPENDENCY,
            Event.waiting_for == waiting_key(parent.entity_type, parent.external_id),
        )
        .values(status=EventStatus.PENDING, waiting_for=None, next_attempt_at=now, updated_at=now)
        .returning(Event.realm_id, Event.entity_type, Event.external_id)
    )
    keys = [EntityKey(r.realm_id, r.entity_type, r.external_id) for r in rows]
    return [k for k in dict.fromkeys(keys) if k != parent]


async def open_events_referring(
    session: AsyncSession,
    event: Event,
    *,
    statuses: Sequence[str],
    kinds: Sequence[str],
    refers: Refers,
    only: tuple[str, str] | None = None,
) -> list[Row[uuid.UUID, str, str, str, datetime]]:
    """(id, entity type, external id, operation, occurred_at) of the events of `kinds` in
    `statuses` that refer to `event`'s record and occurred no later than it (of the record
    `only`, when given), invoices before payments, oldest first. A void or delete names only
    its record: what it concerns is read from the record's upserts."""
    upsert = aliased(Event)
    through_upserts = exists().where(
        upsert.realm_id == Event.realm_id,
        upsert.entity_type == Event.entity_type,
        upsert.external_id == Event.external_id,
        upsert.operation == "upserted",
        refers(upsert, event.external_id),
    )
    query = select(
        Event.id, Event.entity_type, Event.external_id, Event.operation, Event.occurred_at
    ).where(
        Event.realm_id == event.realm_id,
        Event.status.in_(statuses),
        Event.entity_type.in_(kinds),
        Event.occurred_at <= event.occurred_at,
        or_(
            and_(Event.operation == "upserted", refers(Event, event.external_id)),
            and_(Event.operation != "upserted", through_upserts),
        ),
    )
    if only is not None:
        query = query.where(Event.entity_type == only[0], Event.external_id == only[1])
    tier = case((Event.entity_type.in_(("invoice", "credit_memo", "sales_receipt")), 0), else_=1)
    rows = await session.execute(
        query.order_by(tier, Event.occurred_at, Event.received_at, Event.id)
    )
    return list(rows.all())


# Parents' tiers first (customers and items; invoices, credit memos and sales receipts;
# payments and applied credits; refunds): dependents find their parents.
_TIER = case(
    (Event.entity_type.in_(("customer", "item")), 0),
    (Event.entity_type.in_(("invoice", "credit_memo", "sales_receipt")), 1),
    (Event.entity_type.in_(("payment", "applied_credit")), 2),
    else_=3,
)


async def due_records(
    session: AsyncSession, realm_id: str, now: datetime, limit: int
) -> list[EntityKey]:
    """The realm's records with due events, parents' tiers first, oldest first."""
    rows = await session.execute(
        select(Event.entity_type, Event.external_id)
        .where(
            Event.realm_id == realm_id,
            Event.status.in_(DUE_STATUSES),
            Event.next_attempt_at <= now,
        )
        .group_by(Event.entity_type, Event.external_id)
        .order_by(func.min(_TIER), func.min(Event.next_attempt_at))
        .limit(limit)
    )
    return [EntityKey(realm_id, r.entity_type, r.external_id) for r in rows]


async def due_realms(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Realms with at least one due event (see `DUE_STATUSES`)."""
    rows = await session.scalars(
        select(Event.realm_id)
        .where(Event.status.in_(DUE_STATUSES), Event.next_attempt_at <= now)
        .group_by(Event.realm_id)
        .order_by(Event.realm_id)
        .limit(limit)
    )
    return list(rows)


async def syncing_records(session: AsyncSession, now: datetime, limit: int) -> list[EntityKey]:
    """Records with an event `syncing` under a lease that has not run out."""
    rows = await session.execute(
        select(Event.realm_id, Event.entity_type, Event.external_id)
        .where(Event.status == EventStatus.SYNCING, Event.next_attempt_at > now)
        .group_by(Event.realm_id, Event.entity_type, Event.external_id)
        .limit(limit)
    )
    return [EntityKey(*row) for row in rows.all()]


async def end_leases(session: AsyncSession, keys: list[EntityKey], now: datetime) -> None:
    """Make the `syncing` events of these records due at `now` (their worker died)."""
    leased = rows_of(
        "leased",
        {"realm_id": String(), "entity_type": String(), "external_id": String()},
        [(k.realm_id, k.entity_type, k.external_id) for k in keys],
    )
    await session.execute(
        update(Event)
        .where(
            Event.status == EventStatus.SYNCING,
            Event.realm_id == leased.c.realm_id,
            Event.entity_type == leased.c.entity_type,
            Event.external_id == leased.c.external_id,
        )
        .values(next_attempt_at=now)
    )
