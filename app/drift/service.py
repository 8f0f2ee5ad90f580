"""From a sighting of a change in QBO to drift, policy and notice.

Sightings (webhook or CDC) are stored first, deduplicated, and worked through per realm
by a job. Each is classified against what we last wrote (`app.drift.changes`) while holding
the record's sync lock, so a write of ours in flight is never mistaken for someone else's.
Drift is one row per record version and kind, so a change seen by both a webhook and CDC,
or delivered twice, is recorded and announced once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.callbacks.service import enqueue_notice
from app.connections.models import Connection, ConnectionStatus
from app.core.keys import EntityKey
from app.db import BulkInsert, utcnow
from app.drift.changes import Change, Verdict, classify, echo_of_own_write, whole_second
from app.drift.echoes import WRITERS, moved_by, writers_in
from app.drift.intuit import Sighting
from app.drift.models import ChangeStatus, Drift, QboChange, UnmappedRecord
from app.events.models import Event, EventStatus
from app.events.references import applied_to, names_customer
from app.events.service import payload_hash
from app.mappings.models import EntityMapping
from app.qbo import Category, QboError
from app.sync.owned import ENTITY_TYPES, owned_fields

logger = logging.getLogger(__name__)

CLAIM_SIZE = 50
LEASE = timedelta(minutes=2)
BUSY_RETRY = timedelta(seconds=2)
WAIT_CONNECTION = timedelta(minutes=5)
MAX_ATTEMPTS = 20
POLICIES = ("report", "restore", "accept")
RESTORABLE = ("edited", "inactive")


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
                QboChange.status == ChangeStatus.PENDING.value,
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
        .where(QboChange.status == ChangeStatus.PENDING.value, QboChange.next_attempt_at <= now)
        .group_by(QboChange.realm_id)
        .limit(limit)
    )
    return list(rows)


async def finish(session: AsyncSession, change_id: uuid.UUID, result: str) -> None:
    await session.execute(
        update(QboChange)
        .where(QboChange.id == change_id)
        .values(status=ChangeStatus.DONE.value, result=result[:2000], processed_at=utcnow())
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


async def active_connection(session: AsyncSession, realm_id: str) -> Connection | None:
    return await session.scalar(
        select(Connection).where(
            Connection.realm_id == realm_id, Connection.status == ConnectionStatus.ACTIVE.value
        )
    )


async def find_mapping(session: AsyncSession, sight: Sight) -> EntityMapping | None:
    entity_type = ENTITY_TYPES[sight.entity]
    return await session.scalar(
        select(EntityMapping)
        .where(
            EntityMapping.realm_id == sight.realm_id,
            EntityMapping.entity_type == entity_type,
            EntityMapping.qbo_id == sight.qbo_id,
        )
        .order_by(EntityMapping.updated_at.desc())
        .limit(1)
    )


async def count_unmapped(session: AsyncSession, sight: Sight) -> None:
    statement = pg_insert(UnmappedRecord).values(
        realm_id=sight.realm_id,
        entity=sight.entity,
        qbo_id=sight.qbo_id,
        first_seen_at=utcnow(),
        last_operation=sight.operation,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["realm_id", "entity", "qbo_id"],
            set_={"last_operation": statement.excluded.last_operation},
        )
    )


def is_not_found(err: QboError) -> bool:
    """QBO's answer for a record that is gone (610 / HTTP 404)."""
    return err.category is Category.NOT_FOUND or err.status == 404


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str
    drift: Drift | None = None


async def record_verdict(
    session: AsyncSession,
    sight: Sight,
    mapping: EntityMapping,
    verdict: Verdict,
    record: dict[str, Any] | None,
    policy: str,
) -> Outcome:
    """Act on a classification: advance the mapping past edits of fields we do not own,
    or record drift and apply the entity's policy (in the caller's transaction)."""
    change = verdict.change
    if change is None:
        if verdict.reason.startswith("only fields") and verdict.sync_token is not None:
            # Our fields are intact: take the new SyncToken so our next write needs no 5010.
            mapping.sync_token = verdict.sync_token
        return Outcome(f"no drift: {verdict.reason}")
    last = await session.get(Event, mapping.last_event_id) if mapping.last_event_id else None
    statement = (
        pg_insert(Drift)
        .values(
            id=uuid.uuid4(),
            realm_id=mapping.realm_id,
            entity_type=mapping.entity_type,
            external_id=mapping.external_id,
            qbo_id=mapping.qbo_id,
            kind=change.kind,
            changes=change.changes,
            qbo_sync_token=verdict.sync_token or "",
            changed_at=sight.changed_at,
            detected_at=utcnow(),
            found_by=sight.found_by,
            policy=policy,
            action="reported",
            source=last.source if last else None,
        )
        .on_conflict_do_nothing()
        .returning(Drift.id)
    )
    drift_id = await session.scalar(statement)
    if drift_id is None:
        return Outcome(f"{change.kind}: already recorded")
    drift = await session.get(Drift, drift_id)
    assert drift is not None
    drift.action = await _apply_policy(session, drift, mapping, change, record, last, policy)
    if drift.source:
        await enqueue_notice(session, drift.source, "drift.found", drift_notice(drift))
    logger.info(
        "drift in QBO: %s %s %s (%s)",
        mapping.entity_type,
        mapping.external_id,
        change.kind,
        drift.action,
        extra={"realm_id": mapping.realm_id},
    )
    return Outcome(f"{change.kind}: {drift.action}", drift)


async def _apply_policy(
    session: AsyncSession,
    drift: Drift,
    mapping: EntityMapping,
    change: Change,
    record: dict[str, Any] | None,
    last: Event | None,
    policy: str,
) -> str:
    if policy == "accept":
        if record is None:
            return "reported (a deleted or merged record has no version to accept)"
        mapping.sync_token = str(record["SyncToken"])
        mapping.qbo_owned = owned_fields(mapping.entity_type, record)
        return "accepted: QBO's version is the new baseline"
    if policy == "restore":
        if change.kind not in RESTORABLE:
            return f"reported (a {change.kind} record cannot be restored by an update)"
        if last is None or last.operation != "upserted":
            return "reported (no full state of ours to restore)"
        restore = _restore_event(last, drift)
        session.add(restore)
        await session.flush()
        drift.restore_event_id = restore.id
        return f"restoring: event {restore.event_id}"
    return "reported"


def _restore_event(last: Event, drift: Drift) -> Event:
    """Our last full state again, as a new event of the same caller: the sync engine sends
    it as a sparse update, re-reading on 5010, so fields we do not own stay as they are."""
    event_id = f"qbo-sync-restore-{drift.id}"
    payload = {**last.payload, "event_id": event_id}
    now = utcnow()
    return Event(
        id=uuid.uuid4(),
        source=last.source,
        event_id=event_id,
        realm_id=last.realm_id,
        entity_type=last.entity_type,
        external_id=last.external_id,
        operation=last.operation,
        payload=payload,
        payload_hash=payload_hash(payload),
        # Its state is the one it restores: any newer event of the caller's still wins.
        occurred_at=last.occurred_at,
        received_at=now,
        updated_at=now,
        status=EventStatus.PENDING.value,
        next_attempt_at=now,
        note=f"restores our fields after drift {drift.id}",
    )


def drift_notice(drift: Drift) -> dict[str, Any]:
    return {
        "drift_id": str(drift.id),
        "realm_id": drift.realm_id,
        "entity_type": drift.entity_type,
        "external_id": drift.external_id,
        "qbo_id": drift.qbo_id,
        "kind": drift.kind,
        "changes": drift.changes,
        "found_by": drift.found_by,
        "policy": drift.policy,
        "action": drift.action,
        "changed_at": drift.changed_at.isoformat() if drift.changed_at else None,
        "detected_at": drift.detected_at.isoformat(),
    }


def restore_key(drift: Drift | None) -> EntityKey | None:
    if drift is None or drift.restore_event_id is None:
        return None
    return EntityKey(drift.realm_id, drift.entity_type, drift.external_id)


async def drift_counts(
    session: AsyncSession, realm_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Drift per realm and kind."""
    query = select(Drift.realm_id, Drift.kind, func.count()).group_by(Drift.realm_id, Drift.kind)
    if realm_id is not None:
        query = query.where(Drift.realm_id == realm_id)
    counts: dict[str, dict[str, int]] = {}
    for realm, kind, n in await session.execute(query):
        counts.setdefault(realm, {})[kind] = int(n)
    return counts


async def unmapped_counts(
    session: AsyncSession, realm_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Records QBO holds that we do not map, per realm and entity."""
    query = select(UnmappedRecord.realm_id, UnmappedRecord.entity, func.count()).group_by(
        UnmappedRecord.realm_id, UnmappedRecord.entity
    )
    if realm_id is not None:
        query = query.where(UnmappedRecord.realm_id == realm_id)
    counts: dict[str, dict[str, int]] = {}
    for realm, entity, n in await session.execute(query):
        counts.setdefault(realm, {})[entity] = int(n)
    return counts


def classify_sight(sight: Sight, mapping: EntityMapping, record: dict[str, Any] | None) -> Verdict:
    return classify(
        mapping.entity_type,
        mapping.qbo_owned,
        mapping.sync_token,
        record,
        sight.operation,
        mapping.qbo_last_write,
    )


# -- webhooks of our own writes ---------------------------------------------------------


# Whose writes change which records besides their own (app.drift.changes.touched_by).
async def echo_of_ours(session: AsyncSession, sight: Sight, mapping: EntityMapping) -> str | None:
    """Why a webhook's change is a write of ours coming back, with no need to read the
    record, or None when it may be someone else's. Call it holding the record's sync lock
    (no write of ours to it is then in flight, and the mapping holds the last one).

    Intuit's notification says which record, the operation and `lastUpdated`
    (https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks); QBO's answer
    to our write gave `MetaData.LastUpdatedTime`, kept with the mapping. A change is ours
    when it is our last write or older (`echo_of_own_write`), or when it is an `Update`
    stamped in the second of our write of an invoice or payment that moved this record's
    balance (QBO moves the customer's, and a paid invoice's, LastUpdatedTime then).
    """
    reason = echo_of_own_write(
        sight.operation,
        sight.changed_at,
        mapping.qbo_last_write,
        mapping.qbo_updated_at,
        mapping.qbo_echoed,
    )
    if reason == "our own write":
        mapping.qbo_echoed = True  # a second change in that second is someone else's
    elif reason == "our own deletion" and sight.changed_at is not None:
        # A deletion's answer has no time: its notification's is QBO's moment of it.
        mapping.qbo_updated_at = sight.changed_at
    if reason is not None or sight.operation != "Update" or sight.changed_at is None:
        return reason
    if mapping.entity_type not in WRITERS:
        return None
    writers = await writers_in(session, sight.realm_id, [sight.changed_at])
    return moved_by(sight, mapping.entity_type, writers[whole_second(sight.changed_at)])


async def write_in_flight(session: AsyncSession, sight: Sight, mapping: EntityMapping) -> bool:
    """Whether a write of ours that may have made this change is still being recorded:
    QBO answered it, but its event (`syncing` until the mapping is stored, in the same
    transaction) has not committed yet. One EXISTS query: the payloads stay in PostgreSQL."""
    ext = mapping.external_id
    writes = [and_(Event.entity_type == mapping.entity_type, Event.external_id == ext)]
    if mapping.entity_type == "customer":
        writes.append(
            and_(
                Event.entity_type.in_(WRITERS["customer"]),
                names_customer(Event, ext),
            )
        )
    elif mapping.entity_type == "invoice":
        writes.append(
            and_(
                Event.entity_type.in_(WRITERS["invoice"]),
                applied_to(Event, ext),
            )
        )
    found = await session.scalar(
        select(
            exists().where(
                Event.realm_id == sight.realm_id,
                Event.status == EventStatus.SYNCING.value,
                or_(*writes),
            )
        )
    )
    return bool(found)
