"""Customer, item, invoice and payment reach QBO once, in order, whatever order they arrive in."""

from __future__ import annotations

from decimal import Decimal

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from tests.fixtures.world import Books, connect, drain, event_of, post
from tests.support.factories import customer_event, invoice_event, item_event, payment_event


def _flow(realm: str) -> list[dict[str, object]]:
    return [
        customer_event("c1", realm_id=realm),
        item_event("item-1", realm_id=realm),
        item_event("item-2", realm_id=realm, data={"name": "Support", "sku": "SUP-1"}),
        invoice_event("inv-1", customer="c1", realm_id=realm),
        payment_event("pay-1", customer="c1", realm_id=realm),
    ]


async def _check_books(books: Books, realm: str) -> None:
    customers = [c for c in await books.records(realm, "customers") if "c1" in str(c.get("Notes"))]
    assert len(customers) == 1
    invoices = await books.records(realm, "invoices")
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["CustomerRef"]["value"] == customers[0]["Id"]
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("350.00")
    assert Decimal(str(invoice["Balance"])) == Decimal("0")
    payments = await books.records(realm, "payments")
    assert len(payments) == 1
    assert payments[0]["Line"][0]["LinkedTxn"][0]["TxnId"] == invoice["Id"]


async def test_in_order(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    books: Books,
    sync_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> None:
    realm = await connect(books, sync_settings, session_factory)
    events = _flow(realm)
    await post(client, auth, *events)

    counts = await drain(sync_settings, books, session_factory, redis)

    assert counts == {"synced": 5}
    await _check_books(books, realm)
    invoice = await event_of(session_factory, str(events[3]["event_id"]))
    answer = await client.get(f"/events/{invoice.id}", headers=auth)
    assert answer.json()["status"] == "synced"
    assert answer.json()["qbo_id"] == (await books.records(realm, "invoices"))[0]["Id"]


async def test_out_of_order_waits_for_parents(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    books: Books,
    sync_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> None:
    realm = await connect(books, sync_settings, session_factory)
    customer, item1, item2, invoice, payment = _flow(realm)
    await post(client, auth, payment, invoice)

    counts = await drain(sync_settings, books, session_factory, redis)
    assert counts == {"waiting_dependency": 2}
    waiting = await event_of(session_factory, str(invoice["event_id"]))
    assert waiting.waiting_for == "customer:c1"
    assert await books.records(realm, "invoices") == []

    await post(client, auth, item2, customer, item1)
    counts = await drain(sync_settings, books, session_factory, redis)

    assert counts == {"synced": 5}
    await _check_books(books, realm)
