"""Customer, item, invoice and payment reach QBO once, in order, whatever order they arrive in."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.world import Books, World, event_of
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


async def test_in_order(world: World) -> None:
    realm = (await world.connect()).realm
    events = _flow(realm)
    await world.post(*events)

    counts = await world.drain()

    assert counts == {"synced": 5}
    await _check_books(world.books, realm)
    invoice = await event_of(world.factory, str(events[3]["event_id"]))
    answer = await world.client.get(f"/events/{invoice.id}", headers=world.auth)
    assert answer.json()["status"] == "synced"
    assert answer.json()["qbo_id"] == (await world.books.records(realm, "invoices"))[0]["Id"]


async def test_out_of_order_waits_for_parents(world: World) -> None:
    realm = (await world.connect()).realm
    customer, item1, item2, invoice, payment = _flow(realm)
    await world.post(payment, invoice)

    counts = await world.drain()
    assert counts == {"waiting_dependency": 2}
    waiting = await event_of(world.factory, str(invoice["event_id"]))
    assert waiting.waiting_for == "customer:c1"
    assert await world.books.records(realm, "invoices") == []

    await world.post(item2, customer, item1)
    counts = await world.drain()

    assert counts == {"synced": 5}
    await _check_books(world.books, realm)
