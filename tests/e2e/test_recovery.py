"""Recovery paths: adoption after a lost answer when QBO has forgotten the requestid,
dependency timeouts, a held entity, throttling that costs no attempt, revoked connections."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.core.keys import EntityKey
from app.db import utcnow
from app.events.models import Event
from app.mappings.models import EntityMapping
from app.qbo.limiter import Limits, RealmBudget
from app.sync.deps import SyncDeps
from app.sync.engine import sync_entity
from app.sync.locks import lock_id
from app.sync.pump import pump_realm
from tests.fixtures.world import World, event_of
from tests.support.factories import customer_event, invoice_event, item_event, payment_event


async def _mark_lost(factory: async_sessionmaker[AsyncSession], event_id: str) -> None:
    """As if an earlier create of this event got no answer (and QBO forgot its requestid)."""
    async with factory() as session:
        await session.execute(
            update(Event)
            .where(Event.event_id == event_id)
            .values(
                status="retrying",
                attempts=1,
                last_error={"category": "transient", "message": "lost", "ambiguous": True},
            )
        )
        await session.commit()


async def _qbo_id(factory: async_sessionmaker[AsyncSession], kind: str, ext: str) -> str:
    async with factory() as session:
        qbo_id = await session.scalar(
            select(EntityMapping.qbo_id).where(
                EntityMapping.entity_type == kind, EntityMapping.external_id == ext
            )
        )
    assert qbo_id is not None
    return qbo_id


async def test_a_lost_create_is_found_by_marker_and_adopted(world: World) -> None:
    realm = (await world.connect()).realm
    parents = [
        customer_event("c1", realm_id=realm),
        item_event("item-1", realm_id=realm),
        item_event("item-2", realm_id=realm),
    ]
    await world.post(*parents)
    await world.drain()
    customer_id = await _qbo_id(world.factory, "customer", "c1")
    # QBO holds an invoice and a payment our earlier attempts made (with our markers) ...
    invoice = await world.books.create(
        realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer_id},
            "TxnDate": "2026-11-25",
            "PrivateNote": "qbo-sync:invoice:inv-1",
            "Line": [
                {
                    "Amount": 10,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    payment = await world.books.create(
        realm,
        "Payment",
        {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": 5,
            "TxnDate": "2026-11-26",
            "PrivateNote": "Voided qbo-sync:payment:pay-1",
        },
    )
    # ... and a decoy of another record of ours on the same day.
    await world.books.create(
        realm,
        "Payment",
        {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": 5,
            "TxnDate": "2026-11-26",
            "PrivateNote": "qbo-sync:payment:pay-10",
        },
    )
    inv = invoice_event("inv-1", customer="c1", realm_id=realm)
    pay = payment_event(
        "pay-1", customer="c1", realm_id=realm, data={"total": "5.00", "applied_to": []}
    )
    await world.post(inv, pay)
    await _mark_lost(world.factory, str(inv["event_id"]))
    await _mark_lost(world.factory, str(pay["event_id"]))

    await world.drain()

    assert len(await world.books.records(realm, "invoices")) == 1
    assert len(await world.books.records(realm, "payments")) == 2
    synced_inv = await event_of(world.factory, str(inv["event_id"]))
    assert synced_inv.status == "synced"
    assert synced_inv.qbo_id == invoice["Id"]
    assert synced_inv.note is not None
    assert "adopted" in synced_inv.note
    assert (await event_of(world.factory, str(pay["event_id"]))).qbo_id == payment["Id"]


async def test_a_lost_customer_create_is_found_by_name_only_with_our_marker(world: World) -> None:
    realm = (await world.connect()).realm
    ours = await world.books.create(
        realm, "Customer", {"DisplayName": "Mine", "Notes": "qbo-sync:customer:c1"}
    )
    await world.books.create(realm, "Customer", {"DisplayName": "Theirs"})
    mine = customer_event("c1", realm_id=realm, data={"display_name": "Mine"})
    theirs = customer_event("c2", realm_id=realm, data={"display_name": "Theirs"})
    await world.post(mine, theirs)
    await _mark_lost(world.factory, str(mine["event_id"]))
    await _mark_lost(world.factory, str(theirs["event_id"]))

    await world.drain()

    assert (await event_of(world.factory, str(mine["event_id"]))).qbo_id == ours["Id"]
    names = sorted(c["DisplayName"] for c in await world.books.records(realm, "customers"))
    assert names == ["Mine", "Theirs", "Theirs (c2)"]


async def test_a_parent_that_never_arrives_kills_the_child_after_the_timeout(world: World) -> None:
    realm = (await world.connect()).realm
    inv = invoice_event("inv-1", customer="ghost", realm_id=realm)
    await world.post(inv)
    assert await world.drain() == {"waiting_dependency": 1}
    # Time passes beyond DEPENDENCY_TIMEOUT_MINUTES.
    async with world.factory() as session:
        await session.execute(
            update(Event).values(received_at=utcnow() - timedelta(days=2), next_attempt_at=utcnow())
        )
        await session.commit()

    assert await world.drain() == {"dead": 1}
    dead = await event_of(world.factory, str(inv["event_id"]))
    assert dead.last_error is not None
    assert dead.last_error["category"] == "dependency"
    assert "customer 'ghost' did not arrive within 1440 minutes" in dead.last_error["message"]


async def test_an_entity_held_by_another_worker_is_left_to_it(world: World) -> None:
    realm = (await world.connect()).realm
    await world.post(customer_event("c1", realm_id=realm))
    engine = world.factory.kw["bind"]
    key = EntityKey(realm, "customer", "c1")
    async with engine.connect() as holder:
        assert await holder.scalar(select(_try_lock(lock_id(key))))
        deps = SyncDeps(settings=world.settings, engine=engine, keeper=_unused_keeper())
        result = await sync_entity(deps, key)
        assert result.result == "busy"
        assert result.retry_in is not None
        await holder.scalar(select(func.pg_advisory_unlock(lock_id(key))))
    assert await world.books.records(realm, "customers") == []
    assert await world.drain() == {"synced": 1}


def _try_lock(key: int) -> Any:
    return func.pg_try_advisory_lock(key)


def _unused_keeper() -> Any:
    return object()  # a busy entity is left before any token is needed


async def test_a_revoked_connection_parks_events_with_a_reason(world: World) -> None:
    realm = (await world.connect()).realm
    await world.books.client.post(f"/admin/companies/{realm}/revoke")
    event = customer_event("c1", realm_id=realm)
    await world.post(event)

    assert await world.drain() == {"waiting_connection": 1}
    async with world.factory() as session:
        status = await session.scalar(select(Connection.status).where(Connection.realm_id == realm))
    assert status == "needs_reauth"
    parked = await event_of(world.factory, str(event["event_id"]))
    assert parked.last_error is not None
    assert parked.last_error["category"] == "connection"
    assert parked.attempts == 0


async def test_throttling_costs_no_attempt(world: World) -> None:
    realm = (await world.connect()).realm
    limits = (await world.books.client.get("/admin/limits")).json()
    await world.books.client.put(
        "/admin/limits", json={**limits, "enabled": True, "requests_per_window": 1}
    )
    event = customer_event("c1", realm_id=realm)
    await world.post(event)

    deps = world.sync_deps()
    result = await sync_entity(deps, EntityKey(realm, "customer", "c1"))

    assert result.result == "retry"
    assert result.retry_in is not None
    assert result.retry_in >= 60
    throttled = await event_of(world.factory, str(event["event_id"]))
    assert throttled.status == "retrying"
    assert throttled.attempts == 0
    assert throttled.failing_since is None
    assert throttled.last_error is not None
    assert throttled.last_error["category"] == "throttled"


async def test_a_paused_realm_defers_its_pump_instead_of_holding_a_worker(world: World) -> None:
    realm = (await world.connect()).realm
    await world.post(customer_event("c1", realm_id=realm))
    deps = world.sync_deps()
    deps.budget = RealmBudget(world.redis, Limits())
    await deps.budget.pause(realm, 30)

    started = time.monotonic()
    result = await pump_realm(deps, realm)

    assert time.monotonic() - started < 5  # it left; it did not sleep through the pause
    assert result.retry_in is not None
    assert 25 < result.retry_in <= 30
    async with world.factory() as session:
        status = await session.scalar(select(Event.status))
    assert status == "pending"  # untouched, due again when the pause ends
    assert await world.books.records(realm, "customers") == []
