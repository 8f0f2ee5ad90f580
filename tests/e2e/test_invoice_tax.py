"""The whole invoice booked in three kinds of company: a US one with automated sales tax,
a US one without (its accountant's codes), and a UK one (VAT codes and rates). Each carries
tax, a discount, shipping, terms, classes, a custom field and a foreign currency; each
total and tax QBO booked is checked against the caller's to the cent. A total QBO books
otherwise is never silent: the synced event carries the mismatch, /sync-status counts it
and an `invoice.mismatch` notice goes out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fixtures.logscan import remember_secret
from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event
from tests.support.receiver import Receiver

SECRET = "tax-callback-secret-0123456789ab"


def _line(amount: str, **more: Any) -> dict[str, Any]:
    return {
        "item_external_id": "item-1",
        "quantity": "1",
        "unit_price": amount,
        "amount": amount,
        **more,
    }


async def _book(w: World, currency: str, rate: str, data: dict[str, Any]) -> dict[str, Any]:
    """Customer, item and invoice in `currency` at `rate`; returns the booked invoice."""
    customer = customer_event("c1", data={"currency": currency})
    invoice = invoice_event(
        "inv-1",
        customer="c1",
        data={
            "currency": currency,
            "exchange_rate": rate,
            "terms": "Net 15",
            "class": "Retail",
            "custom_fields": {"PO": "PO-77"},
            **data,
        },
    )
    counts = await w.send(customer, item_event("item-1"), invoice)
    assert counts == {"synced": 3}, counts
    (booked,) = [r for r in await w.records("invoices") if "inv-1" in r["PrivateNote"]]
    event = await w.event(invoice)
    assert event["mismatch"] is None, event["mismatch"]
    assert booked["CurrencyRef"]["value"] == currency
    assert Decimal(str(booked["ExchangeRate"])) == Decimal(rate)
    assert [f.get("StringValue") for f in booked["CustomField"] if f.get("StringValue")] == [
        "PO-77"
    ]
    assert booked["SalesTermRef"]["value"]
    assert booked["ClassRef"]["value"]
    return booked


def _amounts(booked: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return Decimal(str(booked["TotalAmt"])), Decimal(str(booked["TxnTaxDetail"]["TotalTax"]))


def _kinds(booked: dict[str, Any]) -> list[str]:
    return [line["DetailType"] for line in booked["Line"]]


async def test_a_us_company_with_automated_sales_tax(world: World) -> None:
    w = await world.connect(
        "US",
        automated_sales_tax=True,
        multicurrency=True,
        allow_shipping=True,
        custom_fields=[{"name": "PO"}],
    )
    booked = await _book(
        w,
        "CAD",
        "0.74",
        {
            "ship_to": {"line1": "1 Market St", "city": "San Francisco", "region": "CA"},
            "lines": [_line("300.00", taxable=True), _line("50.00", taxable=False)],
            "discount": {"percent": "10"},
            "shipping": {"amount": "9.95"},
            # 7.25% of 300.00, as the caller's own tax engine charged it
            "tax_total": "21.75",
        },
    )
    # 350.00 - 35.00 + 9.95 + 21.75
    assert _amounts(booked) == (Decimal("346.70"), Decimal("21.75"))
    assert _kinds(booked)[:4] == [
        "SalesItemLineDetail",
        "SalesItemLineDetail",
        "DiscountLineDetail",
        "SalesItemLineDetail",
    ]


async def test_a_us_company_without_automated_sales_tax(world: World) -> None:
    w = await world.connect(
        "US", multicurrency=True, allow_shipping=True, custom_fields=[{"name": "PO"}]
    )
    booked = await _book(
        w,
        "EUR",
        "1.08",
        {
            "tax_code": "San Francisco",
            "lines": [_line("300.00", tax_code="TAX"), _line("50.00", tax_code="NON")],
            "discount": {"amount": "20.00", "before_tax": True},
            "shipping": {"amount": "12.00", "taxable": False},
            # 8.625% of the taxable 300.00 less its share of the discount (17.14)
            "tax_total": "24.40",
        },
    )
    # 350.00 - 20.00 + 12.00 + 24.40
    assert _amounts(booked) == (Decimal("366.40"), Decimal("24.40"))
    assert booked["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == "2"
    assert booked["ApplyTaxAfterDiscount"] is True


async def test_a_uk_company_books_the_callers_vat_to_the_cent(world: World) -> None:
    w = await world.connect(
        "GB", multicurrency=True, allow_shipping=True, custom_fields=[{"name": "PO"}]
    )
    booked = await _book(
        w,
        "EUR",
        "0.86",
        {
            # 20% of each 10.03 is 2.006: QBO's line-by-line rounding alone would say 4.02.
            "lines": [
                _line("10.03", tax_code="20.0% S"),
                _line("10.03", tax_code="20.0% S"),
                _line("50.00", tax_code="0.0% Z", tax_amount="0"),
            ],
            "discount": {"percent": "5"},
            "shipping": {"amount": "5.00", "tax_code": "20.0% S"},
            "tax_total": "5.01",
        },
    )
    # 70.06 - 3.50 + 5.00 + 5.01 (20% of 20.06 and of 5.00)
    assert _amounts(booked) == (Decimal("76.57"), Decimal("5.01"))
    by_rate = {
        t["TaxLineDetail"]["TaxRateRef"]["value"]: Decimal(str(t["Amount"]))
        for t in booked["TxnTaxDetail"]["TaxLine"]
    }
    assert sum(by_rate.values()) == Decimal("5.01")


async def test_what_qbo_books_otherwise_is_recorded_counted_and_noticed(world: World) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    w = await world.connect("GB")
    remember_secret(SECRET)
    registered = await w.client.put(
        "/callbacks", json={"url": "http://billing.test/hooks", "secret": SECRET}, headers=w.auth
    )
    assert registered.status_code == 200, registered.text
    # The 20% code's rate cannot be read (inactive), so the service cannot spread the
    # caller's tax over it: QBO computes its own, line by line.
    company = w.books.store.company(w.realm)
    assert company is not None
    (code,) = [c for c in company.table("TaxCode").values() if c["Name"] == "20.0% S"]
    for detail in code["SalesTaxRateList"]["TaxRateDetail"]:
        company.table("TaxRate")[detail["TaxRateRef"]["value"]]["Active"] = False
    invoice = invoice_event(
        "inv-1",
        customer="c1",
        data={
            "currency": "GBP",
            "lines": [_line("10.03", tax_code="20.0% S"), _line("10.03", tax_code="20.0% S")],
            "tax_total": "4.01",
        },
    )
    counts = await w.send(customer_event("c1", data={"currency": "GBP"}), item_event(), invoice)
    assert counts == {"synced": 3}, counts

    event = await w.event(invoice)
    assert event["status"] == "synced"
    assert event["mismatch"] == {
        "expected": {"total": "24.07", "tax": "4.01"},
        "booked": {"total": "24.08", "tax": "4.02"},
        "difference": {"total": "0.01", "tax": "0.01"},
        "tolerance": "0.00",
    }
    status = (await w.client.get("/sync-status", headers=w.auth)).json()
    (realm,) = [r for r in status["realms"] if r["realm_id"] == w.realm]
    assert realm["mismatches"] == 1
    notices = [r.notice for r in receiver.received if r.notice["kind"] == "invoice.mismatch"]
    assert [n["data"]["mismatch"]["difference"] for n in notices] == [
        {"total": "0.01", "tax": "0.01"}
    ]
    assert notices[0]["data"]["external_id"] == "inv-1"

    # A cent is within the tolerance the company sets: the next write is no mismatch.
    settings = await w.client.put(
        f"/connections/{w.realm}/settings",
        json={"mismatch_tolerance": "0.01"},
        headers=w.auth,
    )
    assert settings.status_code == 200, settings.text
    again = invoice_event("inv-1", customer="c1", data={**invoice["data"], "memo": "Thanks"})
    assert await w.send(again) == {"synced": 4}
    assert (await w.event(again))["mismatch"] is None
    status = (await w.client.get("/sync-status", headers=w.auth)).json()
    (realm,) = [r for r in status["realms"] if r["realm_id"] == w.realm]
    assert realm["mismatches"] == 0
