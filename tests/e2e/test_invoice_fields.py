"""Every field a billing system sends, booked in the emulator and read back: an invoice
with ship-to, terms, e-mail, class, department, custom field, private note and description
and subtotal lines; a tax-exempt sub-customer; an invoice number the company does not take,
said in the event's note."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from app.connections.models import Connection
from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event
from tests.support.samples import SALES_CUSTOM_FIELDS


async def _with_custom_fields(w: World) -> None:
    """The company's sales forms carry custom fields PO and Crew # (QBO's Preferences, as
    read at connect)."""
    company = w.books.store.company(w.realm)
    assert company is not None
    prefs = company.table("Preferences")["1"]
    prefs["SalesFormsPrefs"]["CustomField"] = copy.deepcopy(SALES_CUSTOM_FIELDS)
    async with w.factory() as session:
        connection = await session.scalar(select(Connection).where(Connection.realm_id == w.realm))
        assert connection is not None
        connection.preferences = copy.deepcopy(prefs)
        await session.commit()


def _id_of(rows: list[dict[str, Any]], name: str) -> str:
    return next(str(r["Id"]) for r in rows if r.get("Name") == name)


def _ours(rows: list[dict[str, Any]], kind: str, external_id: str) -> dict[str, Any]:
    tag = f"qbo-sync:{kind}:{external_id}"
    field = "Notes" if kind == "customer" else "PrivateNote"
    (row,) = [r for r in rows if tag in str(r.get(field, "")).split()]
    return row


LINES = [
    {
        "item_external_id": "item-1",
        "description": "Consulting",
        "quantity": "2",
        "unit_price": "150.00",
        "amount": "300.00",
        "class": "Wholesale",
    },
    {"kind": "description", "description": "Travel below"},
    {"item_external_id": "item-1", "quantity": "1", "unit_price": "50.00", "amount": "50.00"},
    {"kind": "subtotal"},
]


async def test_an_invoice_with_every_field_and_its_sub_customer_are_read_back(
    world: World,
) -> None:
    w = await world.connect()
    await _with_custom_fields(w)
    parent = customer_event("acme", data={"display_name": "Acme Group"})
    child = customer_event(
        "acme-west",
        data={
            "display_name": "Acme West",
            "parent_external_id": "acme",
            "taxable": False,
            "tax_exemption_reason_id": 9,
        },
    )
    invoice = invoice_event(
        "inv-1",
        customer="acme-west",
        data={
            "lines": LINES,
            "ship_date": "2026-11-26",
            "ship_to": {"line1": "1 Dock Street", "city": "Oakland", "region": "CA"},
            "terms": "net 15",
            "email": {"to": "ap@acme.example", "cc": "cfo@acme.example"},
            "class": "Retail",
            "department": "North",
            "custom_fields": {"PO": "PO-981"},
            "private_note": "Agreed on the phone",
        },
    )
    # The child and its invoice first: they wait for the parent's create.
    counts = await w.send(invoice, child, item_event("item-1"), parent)
    assert counts == {"synced": 4}, counts

    customers = await w.records("customers")
    top = _ours(customers, "customer", "acme")
    sub = _ours(customers, "customer", "acme-west")
    assert sub["ParentRef"]["value"] == top["Id"]
    assert sub["Job"] is True
    assert sub["FullyQualifiedName"] == "Acme Group:Acme West"
    assert sub["Taxable"] is False
    assert sub["TaxExemptionReasonId"] == "9"

    booked = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert booked["CustomerRef"]["value"] == sub["Id"]
    assert booked["ShipDate"] == "2026-11-26"
    ship = {k: v for k, v in booked["ShipAddr"].items() if k != "Id"}
    assert ship == {"Line1": "1 Dock Street", "City": "Oakland", "CountrySubDivisionCode": "CA"}
    terms = await w.records("terms")
    assert booked["SalesTermRef"]["value"] == _id_of(terms, "Net 15")
    assert booked["BillEmail"] == {"Address": "ap@acme.example"}
    assert booked["BillEmailCc"] == {"Address": "cfo@acme.example"}
    classes = await w.records("classes")
    assert booked["ClassRef"]["value"] == _id_of(classes, "Retail")
    assert booked["DepartmentRef"]["value"] == _id_of(await w.records("departments"), "North")
    # QBO lists every enabled field of the company's sales forms, those without a value too.
    filled = [(f["DefinitionId"], f.get("StringValue")) for f in booked["CustomField"]]
    assert [f for f in filled if f[1]] == [("1", "PO-981")]
    assert booked["PrivateNote"] == "qbo-sync:invoice:inv-1\nAgreed on the phone"
    kinds = [line["DetailType"] for line in booked["Line"]]
    assert kinds[:3] == ["SalesItemLineDetail", "DescriptionOnly", "SalesItemLineDetail"]
    first = booked["Line"][0]["SalesItemLineDetail"]
    assert first["ClassRef"]["value"] == _id_of(classes, "Wholesale")
    assert float(booked["TotalAmt"]) == 350.0

    event = await w.event(invoice)
    assert event["status"] == "synced"
    assert "'INV-0001' not sent" in (event["note"] or "")


async def test_an_unknown_term_or_custom_field_kills_the_invoice_naming_it(world: World) -> None:
    w = await world.connect()
    await _with_custom_fields(w)
    await w.send(customer_event("c1"), item_event("item-1"))
    one_line = [LINES[2]]
    bad_terms = invoice_event("inv-1", "c1", data={"lines": one_line, "terms": "Net 45"})
    bad_field = invoice_event("inv-2", "c1", data={"lines": one_line, "custom_fields": {"X": "1"}})

    counts = await w.send(bad_terms, bad_field)

    assert counts == {"synced": 2, "dead": 2}, counts
    assert "terms: 'Net 45'" in (await w.event(bad_terms))["last_error"]["message"]
    assert "custom_fields: 'X'" in (await w.event(bad_field))["last_error"]["message"]
    assert await w.records("invoices") == []


async def test_a_caller_class_change_is_written_on_update(world: World) -> None:
    w = await world.connect()
    await w.send(customer_event("c1"), item_event("item-1"))
    first = invoice_event("inv-1", "c1", data={"lines": [LINES[2]], "class": "Retail"})
    await w.send(first)
    again = invoice_event(
        "inv-1", "c1", event_id="inv-1-v2", data={"lines": [LINES[2]], "class": "Wholesale"}
    )
    assert await w.send(again) == {"synced": 4}
    booked = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert booked["ClassRef"]["value"] == _id_of(await w.records("classes"), "Wholesale")


async def test_an_invoice_in_a_foreign_currency_carries_its_exchange_rate(world: World) -> None:
    w = await world.connect(multicurrency=True)
    await w.send(customer_event("c1", data={"currency": "EUR"}), item_event("item-1"))
    invoice = invoice_event(
        "inv-1", "c1", data={"lines": [LINES[2]], "currency": "EUR", "exchange_rate": "1.0825"}
    )
    assert await w.send(invoice) == {"synced": 3}
    booked = _ours(await w.records("invoices"), "invoice", "inv-1")
    assert str(booked["ExchangeRate"]) == "1.0825"
