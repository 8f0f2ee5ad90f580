"""Every lookup and upsert of `entity_mappings` the sync engine makes: the QBO record a
caller's record is mapped to, the QBO ids of an event's parents, which external id holds a
QBO record, whether another external id is creating a record under a name, and the one
upsert every write path ends in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rows_of, utcnow
from app.events.models import DUE_STATUSES, Event, EventStatus
from app.mappings.models import QBO_ID_INDEX, EntityMapping


@dataclass(frozen=True, slots=True)
class MappingWrite:
    """What one write stores in its record's mapping (see `save_mapping`)."""

    realm_id: str
    entity_type: str
    external_id: str
    qbo_id: str
    sync_token: str
    payload_hash: str
    event_id: uuid.UUID
    # The fields we own as QBO answered, its MetaData.LastUpdatedTime, and what the write
    # did (app.sync.owned); None where the answer has none (a deletion).
    owned: dict[str, Any] | None
    qbo_updated_at: datetime | None
    last_write: str | None


async def mapping_of(
    session: AsyncSession, realm_id: str, entity_type: str, external_id: str
) -> EntityMapping | None:
    return await session.scalar(
        select(EntityMapping).where(
            EntityMapping.realm_id == realm_id,
            EntityMapping.entity_type == entity_type,
            EntityMapping.external_id == external_id,
        )
    )


async def qbo_ids_of(
    session: AsyncSession, realm_id: str, records: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(entity type, external id) -> QBO id, for those of `records` that are mapped."""
    if not records:
        return {}
    wanted = rows_of("wanted", {"entity_type": String(), "external_id": String()}, set(records))
    rows = await session.execute(
        select(EntityMapping.entity_type, EntityMapping.external_id, EntityMapping.qbo_id)
        .join(
            wanted,
            and_(
                EntityMapping.entity_type == wanted.c.entity_type,
                EntityMapping.external_id == wanted.c.external_id,
            ),
        )
        .where(EntityMapping.realm_id == realm_id)
    )
    return {(r.entity_type, r.external_id): r.qbo_id for r in rows}


async def holder_of(
    session: AsyncSession,
    realm_id: str,
    entity_type: str,
    qbo_id: str,
    besides: str | None = None,
) -> str | None:
    """The external id mapped to that QBO record (other than `besides`), if any."""
    query = select(EntityMapping.external_id).where(
        EntityMapping.realm_id == realm_id,
        EntityMapping.entity_type == entity_type,
        EntityMapping.qbo_id == qbo_id,
    )
    if besides is not None:
        query = query.where(EntityMapping.external_id != besides)
    return await session.scalar(query)


_SAVEPOINT = text("SAVEPOINT save_mapping")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT save_mapping")
_RELEASE_SAVEPOINT = text("RELEASE SAVEPOINT save_mapping")


async def save_mapping(session: AsyncSession, write: MappingWrite) -> str | None:
    """Store the mapping of a write (every write path ends here: single and batch writes,
    adoptions, voids, deletions). Returns None, or, storing nothing, the external id that
    already holds that QBO record (the unique index on realm, entity type and QBO id)."""
    now = utcnow()
    statement = pg_insert(EntityMapping).values(
        id=uuid.uuid4(),
        realm_id=write.realm_id,
        entity_type=write.entity_type,
        external_id=write.external_id,
        qbo_id=write.qbo_id,
        sync_token=write.sync_token,
        last_payload_hash=write.payload_hash,
        last_event_id=write.event_id,
        qbo_owned=write.owned,
        qbo_updated_at=write.qbo_updated_at,
        qbo_last_write=write.last_write,
        qbo_echoed=False,
        created_at=now,
        updated_at=now,
    )
    # A savepoint of one name (SQLAlchemy's `begin_nested` numbers them per transaction:
    # another statement text, and so another prepared statement, per mapping of a batch).
    await session.execute(_SAVEPOINT)
    try:
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["realm_id", "entity_type", "external_id"],
                set_={
                    "qbo_id": statement.excluded.qbo_id,
                    "sync_token": statement.excluded.sync_token,
                    "last_payload_hash": statement.excluded.last_payload_hash,
                    "last_event_id": statement.excluded.last_event_id,
                    # A deletion's answer has neither fields nor time: the last ones
                    # known stay (what the deleted record referred to, for its webhooks).
                    "qbo_owned": EntityMapping.qbo_owned
                    if write.owned is None
                    else statement.excluded.qbo_owned,
                    "qbo_updated_at": EntityMapping.qbo_updated_at
                    if write.qbo_updated_at is None
                    else statement.excluded.qbo_updated_at,
                    "qbo_last_write": statement.excluded.qbo_last_write,
                    "qbo_echoed": False,
                    "updated_at": now,
                },
            )
        )
    except IntegrityError as err:
        await session.execute(_ROLLBACK_TO_SAVEPOINT)
        if QBO_ID_INDEX not in str(err.orig):
            raise
        holder = await holder_of(session, write.realm_id, write.entity_type, write.qbo_id)
        return holder or "another record"
    await session.execute(_RELEASE_SAVEPOINT)
    return None


async def creating_under_name(
    session: AsyncSession,
    realm_id: str,
    entity_type: str,
    name: str,
    *,
    name_field: str,
    limit: int,
    besides: str,
) -> bool:
    """Whether another external id than `besides` is creating a record under `name` (as QBO
    compares names): its event is `syncing`, or ambiguous, and it has no mapping yet."""
    other = await session.scalar(
        select(Event.id)
        .where(
            Event.realm_id == realm_id,
            Event.entity_type == entity_type,
            Event.external_id != besides,
            Event.operation == "upserted",
            or_(
                Event.status == EventStatus.SYNCING,
                and_(
                    Event.status.in_((*DUE_STATUSES, EventStatus.WAITING_CONNECTION)),
                    Event.last_error["ambiguous"].as_boolean().is_(True),
                ),
            ),
            _name_key(Event.payload["data"][name_field].astext, limit)
            == _name_key(literal(name), limit),
            ~select(EntityMapping.id)
            .where(
                EntityMapping.realm_id == realm_id,
                EntityMapping.entity_type == entity_type,
                EntityMapping.external_id == Event.external_id,
            )
            .exists(),
        )
        .limit(1)
    )
    return other is not None


def _name_key(value: Any, limit: int) -> Any:
    """A name as QBO would hold it, for comparison: forbidden characters replaced (as
    `clean_name` does), trimmed, cut to the field's length, lower case."""
    return func.lower(func.left(func.btrim(func.translate(value, ":\t\r\n", "-   ")), limit))
