"""Which writes of ours still being recorded may have made a change announced by a webhook
(app.drift.echoes.write_in_flight), against real PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.drift.echoes import write_in_flight
from app.drift.sightings import Sight
from app.events.models import Event, EventStatus
from app.mappings.models import EntityMapping
from tests.support.factories import customer_event, invoice_event, item_event, payment_event

REALM = "9130000000000777"


async def _syncing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: async_sessionmaker[AsyncSession],
    event: dict[str, Any],
) -> None:
    event = {**event, "realm_id": REALM}
    answer = await client.post("/events", json=event, headers=auth)
    assert answer.status_code == 202, answer.text
    async with factory() as session, session.begin():
        await session.execute(
            update(Event)
            .where(Event.event_id == event["event_id"])
            .values(status=EventStatus.SYNCING.value)
        )


async def _in_flight(
    factory: async_sessionmaker[AsyncSession], entity_type: str, external_id: str
) -> bool:
    sight = cast(Sight, SimpleNamespace(realm_id=REALM))
    mapping = cast(EntityMapping, SimpleNamespace(entity_type=entity_type, external_id=external_id))
    async with factory() as session:
        return await write_in_flight(session, sight, mapping)


async def test_writes_that_may_have_changed_a_record(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    assert not await _in_flight(session_factory, "customer", "wif-c1")
    await _syncing(client, auth, session_factory, invoice_event("wif-inv-1", customer="wif-c1"))
    pay = payment_event(
        "wif-pay-1",
        customer="wif-c2",
        data={"applied_to": [{"invoice_external_id": "wif-inv-2", "amount": "350.00"}]},
    )
    await _syncing(client, auth, session_factory, pay)
    await _syncing(client, auth, session_factory, item_event("wif-item-1"))
    await _syncing(client, auth, session_factory, customer_event("wif-c3"))

    # A customer: its own write, or an invoice or payment of it (its balance moves).
    assert await _in_flight(session_factory, "customer", "wif-c1")
    assert await _in_flight(session_factory, "customer", "wif-c2")
    assert await _in_flight(session_factory, "customer", "wif-c3")
    assert not await _in_flight(session_factory, "customer", "wif-c4")
    # An invoice: its own write, or a payment applied to it.
    assert await _in_flight(session_factory, "invoice", "wif-inv-1")
    assert await _in_flight(session_factory, "invoice", "wif-inv-2")
    assert not await _in_flight(session_factory, "invoice", "wif-inv-3")
    # Other records: only their own write.
    assert await _in_flight(session_factory, "item", "wif-item-1")
    assert not await _in_flight(session_factory, "item", "wif-c1")
    assert await _in_flight(session_factory, "payment", "wif-pay-1")
    assert not await _in_flight(session_factory, "payment", "wif-inv-2")
