"""From a classified sighting to drift, policy and notice.

Sightings are stored and claimed by `app.drift.sightings`, and our own writes coming back
are recognised by `app.drift.echoes`. What is left is classified against what we last wrote
(`app.drift.changes`) while holding the record's sync lock, so a write of ours in flight is
never mistaken for someone else's. Drift is one row per record version and kind, so a
change seen by both a webhook and CDC, or delivered twice, is recorded and announced once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.service import enqueue_notice
from app.connections.models import Connection, ConnectionStatus
from app.core.failures import Category
from app.core.keys import EntityKey
from app.db import utcnow
from app.drift.changes import Change, Verdict, classify
from app.drift.models import Drift, UnmappedRecord
from app.drift.sightings import Sight
from app.events import repository as events
from app.events.models import Event
from app.mappings.models import EntityMapping
from app.qbo import QboError
from app.sync.owned import entity_types_of, owned_fields

logger = logging.getLogger(__name__)

POLICIES = ("report", "restore", "accept")
RESTORABLE = ("edited", "inactive")


async def active_connection(session: AsyncSession, realm_id: str) -> Connection | None:
    return await session.scalar(
        select(Connection).where(
            Connection.realm_id == realm_id, Connection.status == ConnectionStatus.ACTIVE
        )
    )


async def find_mapping(session: AsyncSession, sight: Sight) -> EntityMapping | None:
    return await session.scalar(
        select(EntityMapping)
        .where(
            EntityMapping.realm_id == sight.realm_id,
            EntityMapping.entity_type.in_(entity_types_of(sight.entity)),
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
    last = await events.get_event(session, mapping.last_event_id) if mapping.last_event_id else None
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
        # Our last full state again, as a new event of the same caller: the sync engine
        # sends it as a sparse update, re-reading on 5010, so fields we do not own stay.
        restore = await events.repeat_event(
            session,
            last,
            f"qbo-sync-restore-{drift.id}",
            note=f"restores our fields after drift {drift.id}",
        )
        drift.restore_event_id = restore.id
        return f"restoring: event {restore.event_id}"
    return "reported"


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
