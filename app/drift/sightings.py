"""The queue of sightings: changes seen in QBO (by a webhook or CDC), stored first,
deduplicated, and claimed per realm by the job that classifies them (`app.drift.jobs`).

A sighting ends `done` with the result of its classification, or is looked at again later
(`later`), until MAX_ATTEMPTS tries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import BulkInsert, utcnow
from app.drift.intuit import Sighting
from app.drift.models import ChangeStatus, QboChange

CLAIM_SIZE = 50
LEASE = timedelta(minutes=2)
BUSY_RETRY = timedelta(seconds=2)
MAX_ATTEMPTS = 20


# A delivery of any size is one statement: one array per column (see BulkInsert).
INSERT_CHANGES = BulkInsert(
    QboChange.__table__,  # type: ignore[arg-type]
    [
        "id",
        "dedupe_key",
        "realm_id",
        "entity",
        "qbo_id",
        "operation",
        "changed_at",
        "found_by",
        "record",
        "received_at",
        "status",
        "attempts",
        "next_attempt_at",
    ],
    conflict=["dedupe_key"],
    returning=["realm_id"],
    same=["found_by", "received_at", "status", "attempts", "next_attempt_at"],
)


async def store_sightings(
    connection: AsyncConnection | AsyncSession,
    sightings: Iterable[Sighting],
    found_by: str,
    records: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    """Insert new sightings (duplicates by `dedupe_key` are dropped); returns the realms
    of those inserted. `records` maps a dedupe key to the full record CDC returned.

    One statement whatever the number (an 8,000-change delivery included), in dedupe_key
    order, so that two deliveries of the same changes at once wait for each other in one
    order and never deadlock."""
    unique = {s.dedupe_key: s for s in sightings}
    if not unique:
        return []
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "dedupe_key": s.dedupe_key,
            "realm_id": s.realm_id,
            "entity": s.entity,
            "qbo_id": s.qbo_id,
            "operation": s.operation,
            "changed_at": s.changed_at,
            "record": (records or {}).get(s.dedupe_key),
        }
        for _, s in sorted(unique.items())
    ]
    same = {
        "found_by": found_by,
        "received_at": now,
        "status": ChangeStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
    }
    result = await connection.execute(
        INSERT_CHANGES.statement, INSERT_CHANGES.parameters(rows, same)
    )
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class Sight:
    """What classification needs of a stored sighting."""

    id: uuid.UUID
    realm_id: str
    entity: str
    qbo_id: str
    operation: str
    changed_at: datetime | None
    found_by: str
    record: dict[str, Any] | None
    attempts: int


async def claim_changes(session: AsyncSession, realm_id: str) -> list[Sight]:
    """Take up to CLAIM_SIZE due sightings of a realm for LEASE (skipping those another
    worker holds), oldest first."""
    now = utcnow()
    rows = (
        await session.scalars(
            select(QboChange)
            .where(
                QboChange.realm_id == realm_id,
                QboChange.status == ChangeStatus.PENDING,
                QboChange.next_attempt_at <= now,
            )
            .order_by(QboChange.next_attempt_at)
            .limit(CLAIM_SIZE)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = now + LEASE
    return [
        Sight(
            r.id,
            r.realm_id,
            r.entity,
            r.qbo_id,
            r.operation,
            r.changed_at,
            r.found_by,
            r.record,
            r.attempts,
        )
        for r in rows
    ]


async def due_change_realms(session: AsyncSession, limit: int = 1000) -> list[str]:
    now = utcnow()
    rows = await session.scalars(
        select(QboChange.realm_id)
        .where(QboChange.status == ChangeStatus.PENDING, QboChange.next_attempt_at <= now)
        .group_by(QboChange.realm_id)
        .limit(limit)
    )
    return list(rows)


async def finish(session: AsyncSession, change_id: uuid.UUID, result: str) -> None:
    await session.execute(
        update(QboChange)
        .where(QboChange.id == change_id)
        .values(status=ChangeStatus.DONE, result=result[:2000], processed_at=utcnow())
    )


async def later(session: AsyncSession, sight: Sight, delay: timedelta, why: str) -> None:
    """Look again after `delay`; after MAX_ATTEMPTS tries the sighting ends with `why`."""
    if sight.attempts >= MAX_ATTEMPTS:
        await finish(session, sight.id, f"gave up after {sight.attempts} tries: {why}")
        return
    await session.execute(
        update(QboChange)
        .where(QboChange.id == sight.id)
        .values(next_attempt_at=utcnow() + delay, result=why[:2000])
    )
