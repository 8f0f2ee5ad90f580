"""The emulator (QBO's rules) accepts every body, and the amounts come out right:
customer -> items -> invoice -> payment in a US and a non-US company."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.emulator.config import EmulatorConfig, LimitsConfig
from app.sync.payloads import (
    CompanyContext,
    body_json,
    customer_body,
    deactivate_body,
    delete_body,
    disambiguated_name,
    invoice_body,
    item_body,
    payment_body,
    query_literal,
    requestid,
    sparse_update,
    void_invoice_body,
    void_payment_body,
)
from tests.fixtures.qbo import Qbo, emulator_company
from tests.support.samples import customer, invoice, item, payment

CONFIG = EmulatorConfig(frozen_clock=True, seed=7, limits=LimitsConfig(enabled=False))
ENTITY_KEYS = {"customer": "Customer", "item": "Item", "invoice": "Invoice", "payment": "Payment"}


@dataclass
class Company:
    """An emulator company seen through the bodies our builders make."""

    qbo: Qbo
    ctx: CompanyContext

    async def send(self, entity: str, body: Mapping[str, Any], **params: str) -> httpx.Response:
        return await self.qbo.client.post(
            f"{self.qbo.base}/{entity}",
            content=body_json(body),
            params=params or None,
            headers={**self.qbo.headers, "Content-Type": "application/json"},
        )

    async def write(self, entity: str, body: Mapping[str, Any], **params: str) -> dict[str, Any]:
        """POST and return the entity of a 200 answer, numbers read as Decimal."""
        response = await self.send(entity, body, **params)
        assert response.status_code == 200, response.text
        record: dict[str, Any] = _decoded(response)[ENTITY_KEYS[entity]]
        return record

    async def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        response = await self.qbo.get(f"{entity}/{qbo_id}")
        assert response.status_code == 200, response.text
        record: dict[str, Any] = _decoded(response)[ENTITY_KEYS[entity]]
        return record

    async def setup_parties(self) -> tuple[str, dict[str, str]]:
        """Customer crm-1001 and items sku-consult, sku-travel; returns their QBO ids."""
        account = {"value": "1", "name": "Services"}
        customer_id = (await self.write("customer", customer_body(customer(), self.ctx)))["Id"]
        consult = await self.write("item", item_body(item(), account))
        travel = item(external_id="sku-travel", name="Travel", type="non_inventory", sku=None)
        travel_id = (await self.write("item", item_body(travel, account)))["Id"]
        return customer_id, {"sku-consult": consult["Id"], "sku-travel": travel_id}


def _decoded(response: httpx.Response) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
    return decoded


@pytest.fixture
async def us() -> AsyncIterator[Company]:
    async with emulator_company(CONFIG) as qbo:
        yield await _context(qbo, None)


@pytest.fixture
async def us_numbers() -> AsyncIterator[Company]:
    async with emulator_company(CONFIG, custom_txn_numbers=True) as qbo:
        yield await _context(qbo, None)


@pytest.fixture
async def gb() -> AsyncIterator[Company]:
    async with emulator_company(CONFIG, country="GB") as qbo:
        yield await _context(qbo, "1")  # the seeded "20.0% S" TaxCode


async def _context(qbo: Qbo, tax_code: str | None) -> Company:
    """The context as connecting reads it: CompanyInfo and Preferences from the API."""
    info = (await qbo.get(f"companyinfo/{qbo.realm_id}")).json()["CompanyInfo"]
    prefs = (await qbo.get("preferences")).json()["Preferences"]
    ctx = CompanyContext.from_connection_data(
        info["Country"], info, prefs, default_tax_code_id=tax_code
    )
    return Company(qbo, ctx)


async def test_us_flow_amounts_and_balance(us: Company) -> None:
    assert us.ctx.is_us
    assert not us.ctx.custom_txn_numbers
    customer_id, items = await us.setup_parties()
    body = invoice_body(invoice(), us.ctx, customer_id, items)
    assert "DocNumber" not in body
    created = await us.write("invoice", body)
    assert created["TotalAmt"] == Decimal("1200.18")
    assert created["DocNumber"] == "1001"  # QBO numbered it
    assert created["PrivateNote"] == "qbo-sync:invoice:inv-2026-0042"
    assert created["CustomerMemo"] == {"value": "Thank you for your business"}
    taxes = [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in created["Line"][:2]]
    assert taxes == ["TAX", "NON"]
    paid = await us.write(
        "payment", payment_body(payment(), us.ctx, customer_id, {"inv-2026-0042": created["Id"]})
    )
    assert paid["TotalAmt"] == Decimal("1200.18")
    assert paid["UnappliedAmt"] == 0
    assert paid["PaymentRefNum"] == "CHK-5531"
    assert (await us.read("invoice", created["Id"]))["Balance"] == 0


async def test_custom_numbers_keep_our_doc_number(us_numbers: Company) -> None:
    assert us_numbers.ctx.custom_txn_numbers
    customer_id, items = await us_numbers.setup_parties()
    created = await us_numbers.write(
        "invoice", invoice_body(invoice(), us_numbers.ctx, customer_id, items)
    )
    assert created["DocNumber"] == "2026-0042"


async def test_non_us_flow_with_tax(gb: Company) -> None:
    assert not gb.ctx.is_us
    assert gb.ctx.home_currency == "GBP"
    customer_id, items = await gb.setup_parties()
    lines = [line.model_dump(mode="json") | {"tax_code": None} for line in invoice().lines]
    lines[1]["tax_code"] = "3"  # 0.0% Z
    body = invoice_body(invoice(lines=lines, currency="GBP"), gb.ctx, customer_id, items)
    assert "CurrencyRef" not in body  # home currency, no multicurrency
    created = await gb.write("invoice", body)
    assert created["GlobalTaxCalculation"] == "TaxExcluded"
    # 1199.88 at 20% = 239.976 -> 239.98; 0.30 at 0%.
    assert created["TxnTaxDetail"]["TotalTax"] == Decimal("239.98")
    assert created["TotalAmt"] == Decimal("1440.16")
    pay = payment(
        total="1440.16", applied_to=[{"invoice_external_id": "inv-2026-0042", "amount": "1440.16"}]
    )
    await gb.write(
        "payment", payment_body(pay, gb.ctx, customer_id, {"inv-2026-0042": created["Id"]})
    )
    assert (await gb.read("invoice", created["Id"]))["Balance"] == 0


async def test_updates_deactivation_and_reactivation(us: Company) -> None:
    customer_id, items = await us.setup_parties()
    renamed = customer(display_name="O'Brien \\ Sons Plumbing", email="office@obrien.example")
    # Intake refuses ':', the builder still cleans what it is given.
    renamed.display_name += ":\tInc"
    body = customer_body(renamed, us.ctx)
    updated = await us.write("customer", sparse_update(body, customer_id, "0"))
    assert updated["DisplayName"] == "O'Brien \\ Sons Plumbing- Inc"
    assert updated["PrimaryEmailAddr"] == {"Address": "office@obrien.example"}
    off = await us.write("customer", deactivate_body(customer_id, updated["SyncToken"]))
    assert off["Active"] is False
    on = await us.write("customer", sparse_update(body, customer_id, off["SyncToken"]))
    assert on["Active"] is True
    item_off = await us.write("item", deactivate_body(items["sku-consult"], "0"))
    assert item_off["Active"] is False
    priced = item_body(item(unit_price="120.00"), {"value": "1"})
    item_on = await us.write("item", sparse_update(priced, items["sku-consult"], "1"))
    assert (item_on["Active"], item_on["UnitPrice"]) == (True, Decimal("120"))


async def test_invoice_update_void_delete_and_payment_void_delete(us: Company) -> None:
    customer_id, items = await us.setup_parties()
    created = await us.write("invoice", invoice_body(invoice(), us.ctx, customer_id, items))
    one_line = invoice(lines=[line.model_dump(mode="json") for line in invoice().lines[:1]])
    body = sparse_update(invoice_body(one_line, us.ctx, customer_id, items), created["Id"], "0")
    updated = await us.write("invoice", body)
    assert updated["TotalAmt"] == Decimal("1199.88")
    assert len([x for x in updated["Line"] if x["DetailType"] == "SalesItemLineDetail"]) == 1
    pay = payment(
        total="1199.88", applied_to=[{"invoice_external_id": "inv-2026-0042", "amount": "1199.88"}]
    )
    paid = await us.write(
        "payment", payment_body(pay, us.ctx, customer_id, {"inv-2026-0042": created["Id"]})
    )
    voided = await us.write(
        "payment", void_payment_body(paid["Id"], "0"), operation="update", include="void"
    )
    assert voided["TotalAmt"] == 0
    assert voided["PrivateNote"] == "Voided - qbo-sync:payment:pay-77"
    reopened = await us.read("invoice", created["Id"])
    assert reopened["Balance"] == Decimal("1199.88")
    deleted = await us.send("payment", delete_body(paid["Id"], "1"), operation="delete")
    assert deleted.json()["Payment"]["status"] == "Deleted"
    void = await us.write(
        "invoice", void_invoice_body(created["Id"], reopened["SyncToken"]), operation="void"
    )
    assert void["TotalAmt"] == 0
    gone = await us.send(
        "invoice", delete_body(created["Id"], void["SyncToken"]), operation="delete"
    )
    assert gone.json()["Invoice"]["status"] == "Deleted"


async def test_name_lookup_and_disambiguation(us: Company) -> None:
    name = "Mc'Kay \\ O'Neil"
    first = customer(display_name=name)
    await us.write("customer", customer_body(first, us.ctx))
    query = f"SELECT * FROM Customer WHERE DisplayName = {query_literal(name)}"  # noqa: S608
    found = (await us.qbo.query(query)).json()["QueryResponse"]["Customer"]
    assert [c["DisplayName"] for c in found] == [name]
    assert found[0]["Notes"] == "qbo-sync:customer:crm-1001"
    second = customer(external_id="crm-2002", display_name=name)
    clash = await us.send("customer", customer_body(second, us.ctx))
    assert clash.json()["Fault"]["Error"][0]["code"] == "6240"
    renamed = customer(external_id="crm-2002", display_name=disambiguated_name(name, "crm-2002"))
    created = await us.write("customer", customer_body(renamed, us.ctx))
    assert created["DisplayName"] == "Mc'Kay \\ O'Neil (crm-2002)"


async def test_500_character_names_are_accepted(us: Company) -> None:
    long_name = "L" * 500
    await us.write("customer", customer_body(customer(display_name=long_name), us.ctx))
    name = disambiguated_name(long_name, "crm-2")
    assert len(name) == 500
    created = await us.write(
        "customer", customer_body(customer(external_id="crm-2", display_name=name), us.ctx)
    )
    assert created["DisplayName"] == name


async def test_requestid_makes_a_retried_create_land_once(us: Company) -> None:
    customer_id, items = await us.setup_parties()
    body = invoice_body(invoice(), us.ctx, customer_id, items)
    rid = requestid(uuid.UUID("0b6f3c1e-7a52-4d0e-9f5e-3c2a1b4d5e6f"), "create")
    first = await us.write("invoice", body, requestid=rid)
    again = await us.write("invoice", body, requestid=rid)
    assert again["Id"] == first["Id"]
    listed = (await us.qbo.query("SELECT * FROM Invoice")).json()["QueryResponse"]["Invoice"]
    assert len(listed) == 1


async def test_half_cent_line_amount(us: Company) -> None:
    customer_id, items = await us.setup_parties()
    lines = [
        {
            "item_external_id": "sku-consult",
            "quantity": "0.5",
            "unit_price": "99.99",
            "amount": "50.00",
        }
    ]
    created = await us.write(
        "invoice", invoice_body(invoice(lines=lines), us.ctx, customer_id, items)
    )
    assert created["TotalAmt"] == Decimal("50.00")
