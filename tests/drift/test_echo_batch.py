"""Settling the webhooks of our own writes a batch at a time (app.drift.echoes): what the
stored mappings prove ours is `done` in a fixed number of statements, whatever the batch's
size; anything else is left for the careful path, and a write recorded meanwhile is never
marked as echoed against the wrong write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.drift.echoes import settle_echoes
from app.drift.models import ChangeStatus, FoundBy, QboChange
from app.drift.sightings import Sight
from app.mappings.models import EntityMapping

REALM = "echo-batch-1"
WRITTEN = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


def mapping(entity_type: str, qbo_id: str, **fields: object) -> EntityMapping:
    values: dict[str, object] = {
        "realm_id": REALM,
        "entity_type": entity_type,
        "external_id": f"{entity_type}-{qbo_id}",
        "qbo_id": qbo_id,
        "sync_token": "0",
        "qbo_updated_at": WRITTEN,
        "qbo_last_write": "Create",
    }
    return EntityMapping(**{**values, **fields})


def sighting(entity: str, qbo_id: str, operation: str, at: datetime) -> QboChange:
    return QboChange(
        id=uuid.uuid4(),
        dedupe_key=f"{entity}:{qbo_id}:{operation}:{at.isoformat()}:{uuid.uuid4()}",
        realm_id=REALM,
        entity=entity,
        qbo_id=qbo_id,
        operation=operation,
        changed_at=at,
        found_by=FoundBy.WEBHOOK.value,
        attempts=1,
    )


def as_sight(row: QboChange) -> Sight:
    return Sight(
        row.id,
        row.realm_id,
        row.entity,
        row.qbo_id,
        row.operation,
        row.changed_at,
        row.found_by,
        None,
        row.attempts,
    )


@contextmanager
def statements(session: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements the session's connection runs inside the block."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    engine = session.bind.sync_engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def settle(
    factory: async_sessionmaker[AsyncSession], rows: list[QboChange]
) -> tuple[set[uuid.UUID], list[str]]:
    async with factory() as session, session.begin():
        with statements(session) as seen:
            settled = await settle_echoes(session, [as_sight(r) for r in rows])
    return settled, seen


async def results(factory: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, str | None]:
    async with factory() as session:
        rows = await session.execute(
            select(QboChange.id, QboChange.status, QboChange.result).where(
                QboChange.realm_id == REALM
            )
        )
        return {i: (r if s == ChangeStatus.DONE.value else None) for i, s, r in rows}


async def test_a_batch_of_our_writes_is_settled_in_a_fixed_number_of_statements(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def run(n: int) -> int:
        async with session_factory() as session, session.begin():
            session.add_all(mapping("customer", f"{n}-{i}") for i in range(n))
            rows = [sighting("Customer", f"{n}-{i}", "Create", WRITTEN) for i in range(n)]
            session.add_all(rows)
        settled, seen = await settle(session_factory, rows)
        assert settled == {r.id for r in rows}
        return len(seen)

    assert await run(3) == await run(40) <= 3


async def test_what_the_mappings_prove_is_ours_is_done_and_the_rest_is_left(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    later = WRITTEN + timedelta(seconds=3)
    async with session_factory() as session, session.begin():
        session.add_all(
            [
                mapping("customer", "1"),
                mapping("customer", "2"),
                # An invoice of ours written in the same second moved customer 3's balance.
                mapping("customer", "3", qbo_updated_at=WRITTEN - timedelta(days=1)),
                mapping(
                    "invoice",
                    "30",
                    qbo_owned={"CustomerRef.value": "3"},
                    qbo_last_write="Create",
                ),
                mapping("customer", "4"),
            ]
        )
        rows = {
            "own": sighting("Customer", "1", "Create", WRITTEN),
            "twice": sighting("Customer", "1", "Create", WRITTEN),  # someone else's, or read
            "older": sighting("Customer", "2", "Update", WRITTEN - timedelta(minutes=1)),
            "moved": sighting("Customer", "3", "Update", WRITTEN),
            "after": sighting("Customer", "4", "Update", later),  # someone else's: read it
            "unmapped": sighting("Customer", "99", "Create", WRITTEN),
            "invoice": sighting("Invoice", "30", "Create", WRITTEN),
        }
        session.add_all(rows.values())
    settled, _ = await settle(session_factory, list(rows.values()))
    done = await results(session_factory)

    assert settled == {rows[k].id for k in ("own", "older", "moved", "invoice")}
    assert done[rows["own"].id] == "no drift: our own write (not read)"
    assert done[rows["older"].id] == "no drift: an older version than our last write (not read)"
    assert done[rows["moved"].id] == (
        "no drift: changed by our write of invoice 'invoice-30' (not read)"
    )
    for left in ("twice", "after", "unmapped"):
        assert done[rows[left].id] is None, left
    async with session_factory() as session:
        echoed = dict(
            (
                await session.execute(
                    select(EntityMapping.qbo_id, EntityMapping.qbo_echoed).where(
                        EntityMapping.realm_id == REALM
                    )
                )
            ).all()
        )
    assert echoed == {"1": True, "2": False, "3": False, "30": True, "4": False}


async def test_a_write_recorded_meanwhile_sends_the_sighting_to_the_careful_path(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The mapping's write changes between the read and the mark (a sync records a newer
    write): the sighting is not settled and the newer write is not marked as echoed."""
    async with session_factory() as session, session.begin():
        session.add(mapping("customer", "7"))
        row = sighting("Customer", "7", "Create", WRITTEN)
        session.add(row)

    newer = WRITTEN + timedelta(seconds=2)
    fired: list[str] = []
    async with session_factory() as session, session.begin():

        def record_newer_write(conn: object, cursor: object, statement: str, *_: object) -> None:
            if statement.lstrip().upper().startswith("UPDATE ENTITY_MAPPINGS") and not fired:
                fired.append(statement)
                # The compare-and-set runs after this (autocommitted) write of the newer one.
                with session.bind.sync_engine.connect() as other:  # type: ignore[union-attr]
                    other.execute(
                        update(EntityMapping)
                        .where(EntityMapping.realm_id == REALM, EntityMapping.qbo_id == "7")
                        .values(qbo_updated_at=newer, qbo_last_write="Update", qbo_echoed=False)
                    )
                    other.commit()

        engine = session.bind.sync_engine  # type: ignore[union-attr]
        event.listen(engine, "before_cursor_execute", record_newer_write)
        try:
            settled = await settle_echoes(session, [as_sight(row)])
        finally:
            event.remove(engine, "before_cursor_execute", record_newer_write)

    assert fired, "the mark was never tried"
    assert settled == set()
    assert (await results(session_factory))[row.id] is None
    async with session_factory() as session:
        stored = await session.scalar(
            select(EntityMapping).where(
                EntityMapping.realm_id == REALM, EntityMapping.qbo_id == "7"
            )
        )
    assert stored is not None
    assert (stored.qbo_updated_at, stored.qbo_echoed) == (newer, False)
