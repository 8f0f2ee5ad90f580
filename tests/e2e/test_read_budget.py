"""The month's read allowance end to end: at 95 % syncing goes on without CDC sweeps (the
daily one stays); at 100 % plain writes go on while everything that needs a read waits for
the next month (an ambiguous create waits for its lookup: it is never re-sent blind); our
writes' answers are the new state (no GET after a write)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db import utcnow
from app.drift.models import CdcCheckpoint
from app.events.models import Event
from app.qbo import ReadMeter, month_of, next_month_start
from tests.fixtures.world import WAITING, World
from tests.support.factories import customer_event, invoice_event, item_event

ALLOWANCE = 1000


def _metered(world: World) -> World:
    world.settings = world.settings.model_copy(update={"qbo_monthly_read_allowance": ALLOWANCE})
    return world


async def _reads_used(world: World, reads: int) -> None:
    """As if the month's reads so far (folded into PostgreSQL) were `reads`."""
    key = ReadMeter.month_key(month_of(utcnow()), "base")
    await world.redis.set(key, reads)


async def _cdc_ran(world: World, ago: timedelta) -> None:
    at = utcnow() - ago
    values = {"realm_id": world.realm, "changed_since": at, "last_run_at": at}
    statement = pg_insert(CdcCheckpoint).values(**values)
    async with world.factory() as session:
        await session.execute(
            statement.on_conflict_do_update(index_elements=["realm_id"], set_=values)
        )
        await session.commit()


async def _endpoint(world: World, endpoint: str) -> int:
    counters = await world.books.counters(world.realm)
    return int(counters["by_endpoint"].get(endpoint, 0))


async def _writes(world: World) -> int:
    counters = await world.books.counters(world.realm)
    return sum(int(n) for e, n in counters["by_endpoint"].items() if e.startswith("POST "))


async def _gets(world: World) -> dict[str, int]:
    counters = await world.books.counters(world.realm)
    return {e: int(n) for e, n in counters["by_endpoint"].items() if e.startswith("GET ")}


async def test_at_95_percent_syncing_goes_on_without_cdc_sweeps(world: World) -> None:
    await _metered(world).connect()
    await _cdc_ran(world, timedelta(hours=1))  # a sweep is due every 15 minutes
    await _reads_used(world, 960)
    events = [
        customer_event("c1"),
        item_event("item-1"),
        item_event("item-2"),
        invoice_event("inv-1", "c1"),
    ]
    assert await world.send(*events) == {"synced": 4}
    assert await _endpoint(world, "GET cdc") == 0
    # The company's one sweep a day goes on.
    await _cdc_ran(world, timedelta(days=2))
    await world.drain()
    assert await _endpoint(world, "GET cdc") == 1
    async with world.factory() as session:
        checkpoint = await session.get(CdcCheckpoint, world.realm)
    assert checkpoint is not None
    assert checkpoint.last_error is None


async def test_at_100_percent_writes_go_on_and_an_ambiguous_create_waits_for_its_lookup(
    world: World,
) -> None:
    await _metered(world).connect()
    assert await world.send(customer_event("c0")) == {"synced": 1}
    await _reads_used(world, ALLOWANCE)
    # The create's answer is lost: QBO applied it, we do not know.
    await world.books.faults(world.realm, timeout_rate=1.0)
    await world.post(customer_event("c1"))
    await world.drain(settle=(*WAITING, "retrying"))
    await world.books.faults(world.realm)
    async with world.factory() as session:
        c1 = await session.scalar(
            select(Event).where(Event.external_id == "c1", Event.entity_type == "customer")
        )
    assert c1 is not None
    assert c1.status == "retrying"
    assert (c1.last_error or {}).get("ambiguous") is True
    assert c1.next_attempt_at >= next_month_start(utcnow()) - timedelta(seconds=5)
    posts = await _endpoint(world, "POST customer")
    assert posts == 2  # c0's create, and c1's lost one
    # Plain writes go on: a new customer, and an update of a mapped one.
    renamed = customer_event("c0", data={"display_name": "Customer c0 renamed"})
    await world.post(customer_event("c2"), renamed)
    await world.drain(settle=(*WAITING, "retrying"))
    async with world.factory() as session:
        rows = await session.execute(
            select(Event.external_id, Event.status).where(Event.entity_type == "customer")
        )
        statuses = sorted((ext, str(status)) for ext, status in rows)
    assert statuses == [
        ("c0", "synced"),
        ("c0", "synced"),
        ("c1", "retrying"),
        ("c2", "synced"),
    ]
    names = [r["DisplayName"] for r in await world.records("customers")]
    assert "Customer c2" in names
    assert "Customer c0 renamed" in names
    assert names.count("Customer c1") == 1  # the lost create, never sent again
    writes = await _writes(world)

    # The next month: the lookup finds the record the lost create made and adopts it.
    await world.redis.delete(ReadMeter.month_key(month_of(utcnow()), "base"))
    async with world.factory() as session:
        await session.execute(
            update(Event).where(Event.id == c1.id).values(next_attempt_at=utcnow())
        )
        await session.commit()
    await world.drain()
    async with world.factory() as session:
        status = await session.scalar(select(Event.status).where(Event.id == c1.id))
    assert status == "synced"
    assert await _writes(world) == writes  # adopted: nothing sent again
    names = [r["DisplayName"] for r in await world.records("customers")]
    assert names.count("Customer c1") == 1


async def test_no_get_after_a_write(world: World) -> None:
    await _metered(world).connect()
    creates = [
        customer_event("c1"),
        item_event("item-1"),
        item_event("item-2"),
        invoice_event("inv-1", "c1"),
    ]
    assert await world.send(*creates) == {"synced": 4}
    updates = [
        customer_event("c1", data={"display_name": "Customer c1, renamed"}),
        item_event("item-1", data={"unit_price": "160.00"}),
        invoice_event("inv-1", "c1", data={"memo": "Thanks again"}),
        customer_event("c3"),
    ]
    assert (await world.send(*updates))["synced"] == 8
    # Creates and updates took QBO's answers as the new state: no record was read back
    # (what was read: the company at connect, its lists for a body, CDC).
    gets = await _gets(world)
    assert not {e for e in gets if e.split(" ")[1] in ("customer", "item", "invoice")}, gets
    assert set(gets) <= {"GET companyinfo", "GET preferences", "GET query", "GET cdc"}
