"""Our own writes coming back as webhooks, settled a claimed batch at a time.

Every write of ours is announced by Intuit's webhook, and so is every record whose
LastUpdatedTime it moved (an invoice's customer, a payment's invoices): about three
notifications per synced record. Most are plainly ours from what the mapping holds, and
deciding so needs neither QBO nor the record's sync lock, because the answer is only ever
"ours": a change the stored mapping proves is our last write, older than it, or made by
our write of an invoice or payment in that second. Whatever this cannot prove goes on to
`handle_sight`, which takes the lock, waits for a write being recorded and reads QBO;
the tests it makes there (`echo_of_ours`, `write_in_flight`) close this module.

The only state a decision changes is the mapping's `qbo_echoed` flag (a second change in
the second of our write is someone else's). It is set compare-and-set on the write it was
read with, so a write recorded meanwhile makes the sighting fall back to the careful path
instead of being marked against the wrong write.

Intuit's notification says which record, the operation and `lastUpdated`
(https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import DateTime, String, Table, Uuid, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rows_of, utcnow
from app.drift.changes import (
    OLDER_VERSION,
    OWN_DELETION,
    OWN_WRITE,
    echo_of_own_write,
    touched_by,
    whole_second,
)
from app.drift.models import ChangeStatus, FoundBy, QboChange
from app.events import repository as events
from app.mappings.models import EntityMapping
from app.sync.owned import ENTITY_TYPES, Json, entity_types_of

# Whose writes move a record's LastUpdatedTime in QBO: an invoice or a payment of ours
# moves its customer's, a payment the invoices it pays.
WRITERS = {
    "customer": ("invoice", "payment", "credit_memo", "sales_receipt", "refund", "applied_credit"),
    "invoice": ("payment", "applied_credit"),
    "credit_memo": ("applied_credit", "refund"),
}
# At most this many writes of ours looked at per second of a change (as many as a batch).
WRITERS_PER_SECOND = 1000


class Noticed(Protocol):
    """What settling needs of a sighting (`app.drift.sightings.Sight` has it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def realm_id(self) -> str: ...
    @property
    def entity(self) -> str: ...
    @property
    def qbo_id(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def changed_at(self) -> datetime | None: ...
    @property
    def found_by(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Writer:
    """A write of ours that may have moved other records: its mapping's owned fields."""

    entity_type: str
    external_id: str
    qbo_owned: Json | None


def moved_by(sight: Noticed, entity_type: str, writers: Iterable[Writer]) -> str | None:
    """Why an `Update` of a record of `entity_type` is QBO moving it for a write of ours
    to an invoice or payment stamped in the same second, or None."""
    kinds = WRITERS.get(entity_type, ())
    for writer in writers:
        if writer.entity_type in kinds and (sight.entity, sight.qbo_id) in touched_by(
            writer.entity_type, writer.qbo_owned
        ):
            return f"changed by our write of {writer.entity_type} {writer.external_id!r}"
    return None


def _second(moment: datetime) -> tuple[datetime, datetime]:
    start = whole_second(moment)
    return start, start + timedelta(seconds=1)


async def writers_in(
    session: AsyncSession, realm_id: str, moments: Iterable[datetime]
) -> dict[datetime, list[Writer]]:
    """Our writes of invoices and payments stamped in each whole second of `moments`,
    including deletions of ours announced then whose notification is not handled yet
    (a deletion's answer carries no time: its notification's is QBO's moment of it)."""
    seconds = sorted({whole_second(m) for m in moments})
    if not seconds:
        return {}
    ranges = [_second(s) for s in seconds]
    found: dict[datetime, list[Writer]] = {s: [] for s in seconds}
    spans = rows_of(
        "moments", {"start": DateTime(timezone=True), "stop": DateTime(timezone=True)}, ranges
    )
    written = await session.execute(
        select(
            EntityMapping.entity_type,
            EntityMapping.external_id,
            EntityMapping.qbo_owned,
            EntityMapping.qbo_updated_at,
        )
        .join(
            spans,
            and_(
                EntityMapping.qbo_updated_at >= spans.c.start,
                EntityMapping.qbo_updated_at < spans.c.stop,
            ),
        )
        .where(
            EntityMapping.realm_id == realm_id,
            EntityMapping.entity_type.in_(("invoice", "payment")),
        )
        .limit(WRITERS_PER_SECOND * len(seconds))
    )
    for entity_type, external_id, owned, at in written:
        if at is None:
            continue
        found[whole_second(at)].append(Writer(entity_type, external_id, owned))
    deleted = await session.execute(
        select(QboChange.entity, QboChange.qbo_id, QboChange.changed_at)
        .join(
            spans,
            and_(QboChange.changed_at >= spans.c.start, QboChange.changed_at < spans.c.stop),
        )
        .where(
            QboChange.realm_id == realm_id,
            QboChange.status == ChangeStatus.PENDING,
            QboChange.operation == "Delete",
            QboChange.entity.in_(("Invoice", "Payment")),
        )
        .limit(WRITERS_PER_SECOND * len(seconds))
    )
    gone: dict[tuple[str, str], list[datetime]] = {}
    for entity, qbo_id, at in deleted:
        if at is None:
            continue
        gone.setdefault((ENTITY_TYPES[entity], qbo_id), []).append(whole_second(at))
    if gone:
        deletions = rows_of("deletions", {"entity_type": String(), "qbo_id": String()}, gone)
        rows = await session.execute(
            select(
                EntityMapping.entity_type,
                EntityMapping.qbo_id,
                EntityMapping.external_id,
                EntityMapping.qbo_owned,
            )
            .join(
                deletions,
                and_(
                    EntityMapping.entity_type == deletions.c.entity_type,
                    EntityMapping.qbo_id == deletions.c.qbo_id,
                ),
            )
            .where(
                EntityMapping.realm_id == realm_id,
                EntityMapping.qbo_last_write == "Delete",
            )
        )
        for entity_type, qbo_id, external_id, owned in rows:
            for second in gone[(entity_type, qbo_id)]:
                found[second].append(Writer(entity_type, external_id, owned))
    return found


@dataclass(slots=True)
class _Mapped:
    id: uuid.UUID
    entity_type: str
    last_write: str | None
    written_at: datetime | None
    echoed: bool


async def settle_echoes(session: AsyncSession, sights: Sequence[Noticed]) -> set[uuid.UUID]:
    """Mark `done` the webhook sightings of one realm that are provably our own writes
    coming back; returns their ids. The rest are left as they are, for `handle_sight`."""
    webhook = [
        s
        for s in sights
        if s.entity in ENTITY_TYPES and s.found_by != FoundBy.CDC.value and s.changed_at
    ]
    if not webhook:
        return set()
    realm_id = webhook[0].realm_id
    keys = rows_of(
        "announced",
        {"entity_type": String(), "qbo_id": String()},
        {(kind, s.qbo_id) for s in webhook for kind in entity_types_of(s.entity)},
    )
    rows = await session.execute(
        select(
            EntityMapping.id,
            EntityMapping.entity_type,
            EntityMapping.qbo_id,
            EntityMapping.qbo_last_write,
            EntityMapping.qbo_updated_at,
            EntityMapping.qbo_echoed,
        )
        .join(
            keys,
            and_(
                EntityMapping.entity_type == keys.c.entity_type,
                EntityMapping.qbo_id == keys.c.qbo_id,
            ),
        )
        .where(EntityMapping.realm_id == realm_id)
    )
    mapped = {(r[1], r[2]): _Mapped(r[0], r[1], r[3], r[4], r[5]) for r in rows}
    reasons: dict[uuid.UUID, str] = {}
    own: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {}  # sighting -> (mapping, its write)
    unproven: list[tuple[Noticed, str]] = []
    for sight in webhook:
        mapping = next(
            (
                found
                for kind in entity_types_of(sight.entity)
                if (found := mapped.get((kind, sight.qbo_id))) is not None
            ),
            None,
        )
        if mapping is None:
            continue
        reason = echo_of_own_write(
            sight.operation,
            sight.changed_at,
            mapping.last_write,
            mapping.written_at,
            mapping.echoed,
        )
        if reason == OWN_WRITE and mapping.written_at is not None:
            mapping.echoed = True  # a second change in that second is someone else's
            own[sight.id] = (mapping.id, mapping.written_at)
            reasons[sight.id] = reason
        elif reason == OLDER_VERSION:
            reasons[sight.id] = reason
        elif reason is None and sight.operation == "Update" and mapping.entity_type in WRITERS:
            unproven.append((sight, mapping.entity_type))
    if unproven:
        writers = await writers_in(
            session, realm_id, (s.changed_at for s, _ in unproven if s.changed_at)
        )
        for sight, entity_type in unproven:
            assert sight.changed_at is not None
            reason = moved_by(sight, entity_type, writers.get(whole_second(sight.changed_at), ()))
            if reason is not None:
                reasons[sight.id] = reason
    if own:
        writes = rows_of(
            "writes", {"id": Uuid(), "written_at": DateTime(timezone=True)}, set(own.values())
        )
        marked = set(
            await session.scalars(
                update(EntityMapping)
                .where(
                    EntityMapping.id == writes.c.id,
                    EntityMapping.qbo_updated_at == writes.c.written_at,
                    EntityMapping.qbo_echoed.is_(False),
                )
                .values(qbo_echoed=True)
                .returning(EntityMapping.id)
            )
        )
        for sight_id, (mapping_id, _) in own.items():
            if mapping_id not in marked:
                del reasons[sight_id]  # a write was recorded meanwhile: the careful path
    if reasons:
        changes = cast(Table, QboChange.__table__)
        await session.execute(
            update(changes)
            .where(changes.c.id == bindparam("change_id"))
            .values(
                status=ChangeStatus.DONE,
                result=bindparam("why"),
                processed_at=utcnow(),
            ),
            [
                {"change_id": sight_id, "why": f"no drift: {why} (not read)"}
                for sight_id, why in reasons.items()
            ],
        )
    return set(reasons)


# -- one sighting, holding the record's sync lock (app.drift.jobs.handle_sight) ------------


async def echo_of_ours(session: AsyncSession, sight: Noticed, mapping: EntityMapping) -> str | None:
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
    if reason == OWN_WRITE:
        mapping.qbo_echoed = True  # a second change in that second is someone else's
    elif reason == OWN_DELETION and sight.changed_at is not None:
        # A deletion's answer has no time: its notification's is QBO's moment of it.
        mapping.qbo_updated_at = sight.changed_at
    if reason is not None or sight.operation != "Update" or sight.changed_at is None:
        return reason
    if mapping.entity_type not in WRITERS:
        return None
    writers = await writers_in(session, sight.realm_id, [sight.changed_at])
    return moved_by(sight, mapping.entity_type, writers[whole_second(sight.changed_at)])


async def write_in_flight(session: AsyncSession, sight: Noticed, mapping: EntityMapping) -> bool:
    """Whether a write of ours that may have made this change is still being recorded:
    QBO answered it, but its event (`syncing` until the mapping is stored, in the same
    transaction) has not committed yet."""
    return await events.write_syncing(
        session,
        sight.realm_id,
        mapping.entity_type,
        mapping.external_id,
        WRITERS.get(mapping.entity_type, ()),
    )
