"""Order across records: children of a dead parent die at once (and come back with a
retried parent), and deactivations, voids and deletes wait for the earlier events that
reference their record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.config import Settings
from app.core.keys import EntityKey
from app.events.models import Event
from app.sync.engine import sync_entity
from tests.fixtures.world import World, event_of
from tests.support.factories import (
    customer_event,
    invoice_event,
    item_event,
    payment_event,
    ref_event,
)


def at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00Z"


ONE_LINE = [
    {"item_external_id": "item-1", "quantity": "2", "unit_price": "150.00", "amount": "300.00"}
]


def _invoice(minute: int = 1) -> dict[str, Any]:
    return invoice_event("inv-1", customer="c1", occurred_at=at(minute), data={"lines": ONE_LINE})


def _payment(minute: int = 2) -> dict[str, Any]:
    applied = [{"invoice_external_id": "inv-1", "amount": "300.00"}]
    return payment_event(
        "pay-1",
        customer="c1",
        occurred_at=at(minute),
        data={"total": "300.00", "applied_to": applied},
    )


def _ours(rows: list[dict[str, Any]], kind: str, external_id: str) -> list[dict[str, Any]]:
    tag = f"qbo-sync:{kind}:{external_id}"
    field = "Notes" if kind == "customer" else "PrivateNote"
    return [r for r in rows if tag in str(r.get(field, "")).split()]


def _broken_items(settings: Settings) -> Settings:
    """Settings under which every item create is refused by QBO (no such income account)."""
    return settings.model_copy(update={"item_income_account_id": "999999"})


async def _status(w: World, body: dict[str, Any]) -> Event:
    return await event_of(w.factory, str(body["event_id"]))


# -- defect 2: children of a dead parent ---------------------------------------------------


CHAIN = ["invoice", "payment", "payment.deleted"]


@pytest.mark.parametrize("length", [1, 2, 3])
async def test_a_dead_parent_kills_every_waiting_descendant_at_once(
    world: World, length: int
) -> None:
    """item dead -> invoice dead -> payment dead -> payment.deleted dead, each naming its
    parent, without waiting for DEPENDENCY_TIMEOUT_MINUTES."""
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)))
    children: dict[str, dict[str, Any]] = {
        "invoice": _invoice(1),
        "payment": _payment(2),
        "payment.deleted": ref_event("payment.deleted", "pay-1", occurred_at=at(3)),
    }
    chain = CHAIN[:length]
    # The children arrive first and wait: the invoice for its item, the payment for the
    # invoice, the delete for the payment's create.
    counts = await w.send(*(children[name] for name in chain))
    assert counts == {"synced": 1, "waiting_dependency": length}

    w.settings = _broken_items(w.settings)
    item = item_event("item-1", occurred_at=at(0))
    counts = await w.send(item)

    assert counts == {"synced": 1, "dead": length + 1}
    assert (await _status(w, item)).last_error["category"] == "permanent"  # type: ignore[index]
    parents = {"invoice": "item 'item-1'", "payment": "invoice 'inv-1'"}
    parents["payment.deleted"] = "payment 'pay-1'"
    for name in chain:
        dead = await _status(w, children[name])
        assert dead.status == "dead"
        assert dead.last_error is not None
        assert dead.last_error["category"] == "dependency"
        assert parents[name] in dead.last_error["message"], dead.last_error
        assert dead.last_error["parent"] == parents[name].replace(" '", ":").rstrip("'")
    assert await w.records("invoices") == []
    assert await w.records("payments") == []


async def test_a_void_or_delete_whose_create_died_dies_at_once(world: World) -> None:
    w = await world.connect()
    await w.send(
        customer_event("c1", occurred_at=at(0)),
        customer_event("c2", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        _invoice(1),
    )
    # A payment of another customer applied to c1's invoice: QBO refuses it (620).
    wrong = payment_event(
        "pay-1",
        customer="c2",
        occurred_at=at(2),
        data={
            "total": "300.00",
            "applied_to": [{"invoice_external_id": "inv-1", "amount": "300.00"}],
        },
    )
    delete = ref_event("payment.deleted", "pay-1", occurred_at=at(3))
    counts = await w.send(wrong, delete)

    assert counts == {"synced": 4, "dead": 2}
    assert (await _status(w, wrong)).last_error["code"] == "620"  # type: ignore[index]
    dead = await _status(w, delete)
    assert dead.last_error is not None
    assert dead.last_error["category"] == "dependency"
    assert "its create (payment 'pay-1')" in dead.last_error["message"]


async def test_retrying_a_fixed_parent_brings_its_dead_descendants_back(world: World) -> None:
    w = await world.connect()
    good = w.settings
    await w.send(customer_event("c1", occurred_at=at(0)))
    invoice, payment = _invoice(1), _payment(2)
    delete = ref_event("payment.deleted", "pay-1", occurred_at=at(3))
    await w.send(invoice, payment, delete)
    w.settings = _broken_items(good)
    item = item_event("item-1", occurred_at=at(0))
    assert await w.send(item) == {"synced": 1, "dead": 4}

    # The cause is fixed (the income account exists again); the item is replayed.
    w.settings = good
    dead_item = await _status(w, item)
    answer = await w.client.post(f"/events/{dead_item.id}/retry", headers=w.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
    for child in (invoice, payment, delete):
        revived = await _status(w, child)
        assert revived.status == "pending", (child["type"], revived.status)
        assert revived.attempts == 0

    counts = await w.drain()

    assert counts == {"synced": 5}
    (row,) = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert Decimal(str(row["TotalAmt"])) == Decimal("300.00")
    assert Decimal(str(row["Balance"])) == Decimal("300.00")  # its payment came and went
    assert _ours(await w.records("payments"), "payment", "pay-1") == []


async def test_retry_leaves_children_dead_for_other_reasons_alone(world: World) -> None:
    w = await world.connect()
    good = w.settings
    # A customer in a currency the company cannot take: dead at build time.
    await w.send(
        customer_event("c1", occurred_at=at(0)), customer_event("c9", data={"currency": "EUR"})
    )
    w.settings = _broken_items(good)
    item = item_event("item-1", occurred_at=at(0))
    ours = _invoice(1)
    # Refers to the item too, but died because of its customer.
    theirs = invoice_event("inv-2", customer="c9", occurred_at=at(1), data={"lines": ONE_LINE})
    assert await w.send(item, ours, theirs) == {"synced": 1, "dead": 4}
    assert (await _status(w, theirs)).last_error["parent"] == "customer:c9"  # type: ignore[index]

    w.settings = good
    answer = await w.client.post(f"/events/{(await _status(w, item)).id}/retry", headers=w.auth)
    assert answer.status_code == 200

    assert (await _status(w, ours)).status == "pending"
    assert (await _status(w, theirs)).status == "dead"
    counts = await w.drain()
    assert counts == {"synced": 3, "dead": 2}
    assert len(_ours(await w.records("invoices"), "invoice", "inv-1")) == 1


# -- defect 3: deactivations, voids and deletes after the events that reference them --------


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
async def test_a_customer_is_deactivated_after_its_earlier_invoice(
    world: World, reverse: bool
) -> None:
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)), item_event("item-1", occurred_at=at(0)))
    events = [_invoice(1), ref_event("customer.deactivated", "c1", occurred_at=at(2))]

    counts = await w.send(*(reversed(events) if reverse else events))

    assert counts == {"synced": 4}
    (customer,) = _ours(await w.records("customers"), "customer", "c1")
    assert customer["Active"] is False
    (invoice,) = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert invoice["CustomerRef"]["value"] == customer["Id"]


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
async def test_an_item_is_deactivated_after_its_earlier_invoice(
    world: World, reverse: bool
) -> None:
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)), item_event("item-1", occurred_at=at(0)))
    events = [_invoice(1), ref_event("item.deactivated", "item-1", occurred_at=at(2))]

    counts = await w.send(*(reversed(events) if reverse else events))

    assert counts == {"synced": 4}
    (item,) = [i for i in await w.records("items") if i["Name"] == "Consulting item-1"]
    assert item["Active"] is False
    assert len(_ours(await w.records("invoices"), "invoice", "inv-1")) == 1


async def test_a_deactivation_waits_naming_the_earlier_event_and_is_released(
    world: World,
) -> None:
    w = await world.connect()
    await w.send(
        customer_event("c1", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        customer_event("c2", occurred_at=at(0)),
    )
    invoice = _invoice(1)
    deactivate = ref_event("customer.deactivated", "c1", occurred_at=at(2))
    later = invoice_event(  # after the deactivation: it does not hold it back
        "inv-9", customer="c1", occurred_at=at(5), data={"lines": ONE_LINE}
    )
    other = invoice_event("inv-2", customer="c2", occurred_at=at(1), data={"lines": ONE_LINE})
    for body in (invoice, deactivate, later, other):
        body["realm_id"] = w.realm
        assert (await w.client.post("/events", json=body, headers=w.auth)).status_code == 202

    customer = EntityKey(w.realm, "customer", "c1")
    result = await sync_entity(w.sync_deps(), customer)

    assert result.result == "waiting_dependency"
    waiting = await _status(w, deactivate)
    assert waiting.status == "waiting_dependency"
    assert waiting.waiting_for == "invoice:inv-1"
    assert waiting.note is not None
    assert str((await _status(w, invoice)).id) in waiting.note

    # The invoice syncs and releases the deactivation at once, which the later invoice
    # does not hold back (it then dies: its customer is inactive).
    await sync_entity(w.sync_deps(), EntityKey(w.realm, "invoice", "inv-1"))
    assert (await _status(w, invoice)).status == "synced"
    assert (await _status(w, deactivate)).status == "pending"
    assert (await sync_entity(w.sync_deps(), customer)).result == "idle"
    assert (await _status(w, deactivate)).status == "synced"
    counts = await w.drain()
    assert counts == {"synced": 6, "dead": 1}
    assert (await _status(w, later)).last_error["code"] == "610"  # type: ignore[index]


@pytest.mark.parametrize("removal", ["invoice.voided", "invoice.deleted"])
@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
async def test_a_paid_invoice_is_voided_or_deleted_after_its_payment_is_deleted(
    world: World, reverse: bool, removal: str
) -> None:
    w = await world.connect()
    await w.send(
        customer_event("c1", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        _invoice(1),
        _payment(2),
    )
    events = [
        ref_event("payment.deleted", "pay-1", occurred_at=at(3)),
        ref_event(removal, "inv-1", occurred_at=at(4)),
    ]

    counts = await w.send(*(reversed(events) if reverse else events))

    assert counts == {"synced": 6}
    assert _ours(await w.records("payments"), "payment", "pay-1") == []
    invoices = _ours(await w.records("invoices"), "invoice", "inv-1")
    if removal == "invoice.deleted":
        assert invoices == []
    else:
        (invoice,) = invoices
        assert Decimal(str(invoice["TotalAmt"])) == Decimal("0")
        assert str(invoice["PrivateNote"]).startswith("Voided")


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
async def test_a_whole_history_sent_at_once_ends_in_the_right_books(
    world: World, reverse: bool
) -> None:
    w = await world.connect()
    events = [
        customer_event("c1", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        _invoice(1),
        _payment(2),
        ref_event("payment.deleted", "pay-1", occurred_at=at(3)),
        ref_event("invoice.voided", "inv-1", occurred_at=at(4)),
        ref_event("item.deactivated", "item-1", occurred_at=at(5)),
        ref_event("customer.deactivated", "c1", occurred_at=at(5)),
    ]

    counts = await w.send(*(reversed(events) if reverse else events))

    assert counts == {"synced": 8}
    (customer,) = _ours(await w.records("customers"), "customer", "c1")
    assert customer["Active"] is False
    (item,) = [i for i in await w.records("items") if i["Name"] == "Consulting item-1"]
    assert item["Active"] is False
    (invoice,) = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("0")
    assert _ours(await w.records("payments"), "payment", "pay-1") == []


async def test_a_superseded_earlier_event_releases_the_deactivation(world: World) -> None:
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)), item_event("item-1", occurred_at=at(0)))
    deactivate = ref_event("customer.deactivated", "c1", occurred_at=at(2))
    for body in (_invoice(1), deactivate):
        body["realm_id"] = w.realm
        assert (await w.client.post("/events", json=body, headers=w.auth)).status_code == 202
    customer = EntityKey(w.realm, "customer", "c1")
    assert (await sync_entity(w.sync_deps(), customer)).result == "waiting_dependency"

    # A newer state of the invoice, after the deactivation, makes the earlier one moot; it
    # waits for an item that has not arrived and so does not hold the deactivation back.
    newer = invoice_event(
        "inv-1",
        customer="c1",
        occurred_at=at(3),
        realm_id=w.realm,
        data={"lines": [{**ONE_LINE[0], "item_external_id": "item-9"}]},
    )
    assert (await w.client.post("/events", json=newer, headers=w.auth)).status_code == 202
    result = await sync_entity(w.sync_deps(), EntityKey(w.realm, "invoice", "inv-1"))

    assert result.result == "waiting_dependency"
    assert (await _status(w, deactivate)).status == "pending"
    counts = await w.drain()
    assert counts == {"synced": 3, "superseded": 1, "waiting_dependency": 1}
    (row,) = _ours(await w.records("customers"), "customer", "c1")
    assert row["Active"] is False
