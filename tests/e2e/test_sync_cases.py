"""The hard cases: bursts, name collisions, accountants' edits, records gone in QBO,
permanent faults and replay, every operation of every entity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fixtures.world import World
from tests.support.factories import (
    customer_event,
    invoice_event,
    item_event,
    payment_event,
    ref_event,
)


def at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00Z"


def ours(rows: list[dict[str, Any]], kind: str, external_id: str) -> list[dict[str, Any]]:
    tag = f"qbo-sync:{kind}:{external_id}"
    field = "Notes" if kind == "customer" else "PrivateNote"
    return [r for r in rows if tag in str(r.get(field, "")).split()]


async def test_a_burst_of_updates_ends_in_the_newest_state_with_fewer_writes(world: World) -> None:
    w = await world.connect()
    burst = [
        customer_event("c1", occurred_at=at(i), data={"display_name": f"Version {i}"})
        for i in range(10)
    ]
    counts = await w.send(*burst)

    assert counts == {"synced": 1, "superseded": 9}
    (customer,) = await w.records("customers")
    assert customer["DisplayName"] == "Version 9"
    writes = (await w.books.counters(w.realm))["by_endpoint"]
    assert sum(n for endpoint, n in writes.items() if "customer" in endpoint.lower()) < 10
    # A late arrival older than what QBO holds changes nothing.
    counts = await w.send(customer_event("c1", occurred_at=at(5), data={"display_name": "Old"}))
    assert counts == {"synced": 1, "superseded": 10}
    assert (await w.records("customers"))[0]["DisplayName"] == "Version 9"


async def test_updates_one_by_one_keep_one_record(world: World) -> None:
    w = await world.connect()
    for i in range(3):
        await w.send(customer_event("c1", occurred_at=at(i), data={"display_name": f"V{i}"}))
    (customer,) = await w.records("customers")
    assert customer["DisplayName"] == "V2"
    assert customer["SyncToken"] == "2"


async def test_duplicate_name_adopts_the_same_person_and_disambiguates_others(world: World) -> None:
    w = await world.connect()
    same = await w.books.create(
        w.realm,
        "Customer",
        {"DisplayName": "Jane Doe", "PrimaryEmailAddr": {"Address": "JANE@example.com"}},
    )
    await w.books.create(w.realm, "Customer", {"DisplayName": "John Roe"})
    adopt = customer_event("c1", data={"display_name": "Jane Doe", "email": "jane@example.com"})
    rename = customer_event("c2", data={"display_name": "John Roe", "email": "other@example.com"})
    vendor = customer_event("c3", data={"display_name": "Books by Bessie"})  # a vendor's name

    counts = await w.send(adopt, rename, vendor)

    assert counts == {"synced": 3}
    rows = await w.records("customers")
    assert len(rows) == 4  # Jane adopted; John's namesake and the vendor's get suffixes
    names = sorted(r["DisplayName"] for r in rows)
    assert names == ["Books by Bessie (c3)", "Jane Doe", "John Roe", "John Roe (c2)"]
    adopted = await w.event(adopt)
    assert adopted["qbo_id"] == same["Id"]
    assert ours(rows, "customer", "c1")[0]["Id"] == same["Id"]
    # Later updates of the renamed customer keep working.
    counts = await w.send(
        customer_event("c2", occurred_at=at(30), data={"display_name": "John Roe", "phone": "1"})
    )
    assert counts["synced"] == 4
    assert len(await w.records("customers")) == 4


async def test_an_accountants_edit_survives_our_update(world: World) -> None:
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)))
    (customer,) = await w.records("customers")
    await w.books.edit(
        w.realm, "customers", customer["Id"], Title="Dr", Mobile={"FreeFormNumber": "07700"}
    )

    await w.send(customer_event("c1", occurred_at=at(1), data={"display_name": "Ada L."}))

    after = await w.books.record(w.realm, "customers", customer["Id"])
    assert after["DisplayName"] == "Ada L."  # ours
    assert after["Title"] == "Dr"  # theirs, kept through the 5010 re-read
    assert after["Mobile"] == {"FreeFormNumber": "07700"}
    assert int(after["SyncToken"]) == 2


async def test_every_operation(world: World) -> None:
    w = await world.connect()
    counts = await w.send(
        customer_event("c1", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        item_event("item-2", occurred_at=at(0), data={"name": "Support", "type": "non_inventory"}),
        invoice_event("inv-1", customer="c1", occurred_at=at(1)),
        invoice_event("inv-2", customer="c1", occurred_at=at(1), data={"number": "INV-2"}),
        payment_event("pay-1", customer="c1", occurred_at=at(2)),
        payment_event(
            "pay-2",
            customer="c1",
            occurred_at=at(2),
            data={
                "total": "20.00",
                "applied_to": [{"invoice_external_id": "inv-2", "amount": "20.00"}],
            },
        ),
    )
    assert counts == {"synced": 7}
    items = {i["Name"]: i for i in await w.records("items")}
    assert items["Support"]["Type"] == "NonInventory"
    assert items["Consulting item-1"]["IncomeAccountRef"]["name"] == "Services"
    invoices = await w.records("invoices")
    assert all("DocNumber" not in i or i["DocNumber"] != "INV-0001" for i in invoices)

    # Update an invoice with a whole new line set.
    one_line = [
        {"item_external_id": "item-1", "quantity": "3", "unit_price": "150.00", "amount": "450.00"}
    ]
    counts = await w.send(
        invoice_event("inv-1", customer="c1", occurred_at=at(3), data={"lines": one_line})
    )
    (inv1,) = ours(await w.records("invoices"), "invoice", "inv-1")
    assert len(inv1["Line"]) == 2  # one sales line + QBO's subtotal line
    assert Decimal(str(inv1["TotalAmt"])) == Decimal("450.00")

    # Payment: update, void, delete.
    await w.send(
        payment_event(
            "pay-1",
            customer="c1",
            occurred_at=at(4),
            data={
                "total": "400.00",
                "applied_to": [{"invoice_external_id": "inv-1", "amount": "400.00"}],
            },
        )
    )
    (pay1,) = ours(await w.records("payments"), "payment", "pay-1")
    assert Decimal(str(pay1["TotalAmt"])) == Decimal("400.00")
    await w.send(ref_event("payment.voided", "pay-1", occurred_at=at(5)))
    (pay1,) = ours(await w.records("payments"), "payment", "pay-1")
    assert Decimal(str(pay1["TotalAmt"])) == Decimal("0")
    await w.send(ref_event("payment.deleted", "pay-2", occurred_at=at(5)))
    assert ours(await w.records("payments"), "payment", "pay-2") == []

    # Invoice: void and delete.
    await w.send(ref_event("invoice.voided", "inv-1", occurred_at=at(6)))
    (inv1,) = ours(await w.records("invoices"), "invoice", "inv-1")
    assert Decimal(str(inv1["TotalAmt"])) == Decimal("0")
    await w.send(ref_event("invoice.deleted", "inv-2", occurred_at=at(6)))
    assert ours(await w.records("invoices"), "invoice", "inv-2") == []

    # Customer and item: deactivate, then reactivate with an upsert.
    counts = await w.send(
        ref_event("customer.deactivated", "c1", occurred_at=at(7)),
        ref_event("item.deactivated", "item-2", occurred_at=at(7)),
    )
    (customer,) = ours(await w.records("customers"), "customer", "c1")
    assert customer["Active"] is False
    assert {i["Name"]: i["Active"] for i in await w.records("items")}["Support"] is False
    counts = await w.send(customer_event("c1", occurred_at=at(8)))
    (customer,) = ours(await w.records("customers"), "customer", "c1")
    assert customer["Active"] is True
    assert set(counts) == {"synced"}


async def test_custom_numbers_and_a_non_us_company(world: World) -> None:
    w = await world.connect("GB", custom_txn_numbers=True)
    lines = [
        {"item_external_id": "item-1", "quantity": "2", "unit_price": "100.00", "amount": "200.00"}
    ]
    counts = await w.send(
        customer_event("c1", data={"currency": None}),
        item_event("item-1"),
        invoice_event("inv-1", customer="c1", data={"lines": lines, "number": "GB-42"}),
    )
    assert counts == {"synced": 3}
    (invoice,) = await w.records("invoices")
    assert invoice["DocNumber"] == "GB-42"
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    codes = {c["Id"]: c for c in await w.records("taxcodes")}
    line_code = invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"]
    assert codes[line_code]["Taxable"] is True
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("240.00")  # 20% VAT on top


async def test_records_gone_or_inactive_in_qbo_go_dead_with_a_reason_and_replay(
    world: World,
) -> None:
    w = await world.connect()
    await w.send(
        customer_event("c1", occurred_at=at(0)),
        item_event("item-1", occurred_at=at(0)),
        item_event("item-2", occurred_at=at(0)),
    )
    item = next(i for i in await w.records("items") if i["Name"] == "Consulting item-1")
    await w.books.client.post(f"/admin/companies/{w.realm}/items/{item['Id']}/deactivate")

    invoice = invoice_event("inv-1", customer="c1", occurred_at=at(1))
    counts = await w.send(invoice)
    assert counts["dead"] == 1
    dead = await w.event(invoice)
    assert dead["last_error"]["code"] == "610"
    assert dead["last_error"]["category"] == "not_found"
    assert dead["last_error"]["message"]

    # The item is made active again by its owner; replaying the invoice now syncs it.
    await w.send(item_event("item-1", occurred_at=at(2)))
    answer = await w.client.post(f"/events/{dead['id']}/retry", headers=w.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
    counts = await w.drain()
    assert (await w.event(invoice))["status"] == "synced"
    assert len(await w.records("invoices")) == 1

    # An invoice deleted by the accountant: our update cannot apply, and says why.
    (row,) = await w.records("invoices")
    await w.books.client.delete(f"/admin/companies/{w.realm}/invoices/{row['Id']}")
    update = invoice_event("inv-1", customer="c1", occurred_at=at(3), data={"memo": "changed"})
    counts = await w.send(update)
    gone = await w.event(update)
    assert gone["status"] == "dead"
    assert gone["last_error"]["category"] in ("not_found", "permanent")


async def test_a_permanent_fault_is_dead_with_a_reason_and_a_new_event_fixes_it(
    world: World,
) -> None:
    w = await world.connect(custom_txn_numbers=True)
    await w.send(customer_event("c1"), item_event("item-1"), item_event("item-2"))
    await w.send(invoice_event("inv-1", customer="c1", data={"number": "DUP-1"}))
    clash = invoice_event("inv-2", customer="c1", occurred_at=at(0), data={"number": "DUP-1"})
    await w.send(clash)

    dead = await w.event(clash)
    assert dead["status"] == "dead"
    assert dead["last_error"]["code"] == "6140"
    assert "Duplicate" in dead["last_error"]["message"]
    assert dead["last_error"]["category"] == "permanent"

    fixed = invoice_event("inv-2", customer="c1", occurred_at=at(1), data={"number": "DUP-2"})
    await w.send(fixed)
    assert (await w.event(fixed))["status"] == "synced"
    assert sorted(i["DocNumber"] for i in await w.records("invoices")) == ["DUP-1", "DUP-2"]


async def test_children_of_a_dead_parent_die_naming_it(world: World) -> None:
    w = await world.connect()
    await w.books.create(w.realm, "Customer", {"DisplayName": "Taken"})
    # A customer in a currency the company cannot take: dead at build time.
    bad = customer_event("c1", data={"currency": "EUR"})
    invoice = invoice_event("inv-1", customer="c1")
    counts = await w.send(item_event("item-1"), item_event("item-2"), invoice, bad)

    assert counts == {"synced": 2, "dead": 2}
    child = await w.event(invoice)
    assert "customer 'c1'" in child["last_error"]["message"]
    assert child["last_error"]["category"] == "dependency"


async def test_hostile_names_are_queried_safely_and_round_trip(world: World) -> None:
    w = await world.connect()
    name = "O'Brien \\' OR Name LIKE '%"
    theirs = await w.books.create(
        w.realm, "Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": "ob@x.test"}}
    )
    same = customer_event("c1", data={"display_name": name, "email": "ob@x.test"})
    other = customer_event("c2", data={"display_name": name, "email": "else@x.test"})

    assert await w.send(same, other) == {"synced": 2}

    assert (await w.event(same))["qbo_id"] == theirs["Id"]
    names = sorted(c["DisplayName"] for c in await w.records("customers"))
    assert names == [name, f"{name} (c2)"]
