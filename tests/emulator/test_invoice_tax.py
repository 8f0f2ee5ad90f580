"""Invoice tax as QBO books it: US automated sales tax (AST), US manual rates, non-US
codes with GlobalTaxCalculation, rounding, overrides and discounts before tax."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.emulator.test_xsd import assert_xsd_names
from tests.fixtures.qbo import Qbo, emulator_company, fault_code
from tests.support.invoice_bodies import discount, invoice, sales


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def tax_lines(record: dict[str, Any]) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(TaxRateRef, TaxPercent, NetAmountTaxable, Amount) of each TaxLine."""
    return [
        (
            line["TaxLineDetail"]["TaxRateRef"]["value"],
            amount(line["TaxLineDetail"]["TaxPercent"]),
            amount(line["TaxLineDetail"]["NetAmountTaxable"]),
            amount(line["Amount"]),
        )
        for line in record["TxnTaxDetail"].get("TaxLine", [])
    ]


async def code_named(qbo: Qbo, name: str) -> dict[str, Any]:
    answer = await qbo.query("SELECT * FROM TaxCode")
    (code,) = [c for c in answer.json()["QueryResponse"]["TaxCode"] if c["Name"] == name]
    return dict(code)


async def test_ast_company_taxes_taxable_lines_at_the_company_state_without_ship_to() -> None:
    async with emulator_company(automated_sales_tax=True) as qbo:
        prefs = (await qbo.get("preferences")).json()["Preferences"]["TaxPrefs"]
        assert (prefs["PartnerTaxEnabled"], prefs["UsingSalesTax"]) == (True, True)
        customer = await qbo.customer("Walk-in")
        answer = await qbo.post(
            "invoice", invoice(customer["Id"], sales("100", "TAX"), sales("50", "NON"))
        )
        assert answer.status_code == 200, answer.text
        assert_xsd_names(answer.json())
        record = answer.json()["Invoice"]
        california = await code_named(qbo, "California")
        assert record["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == california["Id"]
        assert [t[1:] for t in tax_lines(record)] == [
            (Decimal("6"), Decimal("100.00"), Decimal("6.00")),
            (Decimal("1.25"), Decimal("100.00"), Decimal("1.25")),
        ]
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal("7.25")
        assert amount(record["TotalAmt"]) == Decimal("157.25")
        assert amount(record["Balance"]) == Decimal("157.25")


@pytest.mark.parametrize(
    ("state", "tax", "rates"),
    [
        ("NY", "17.75", ["8.00", "9.00", "0.75"]),
        ("TX", "12.50", ["12.50"]),
        ("WA", "20.20", ["13.00", "7.20"]),
        ("OR", "0", []),
        ("FL", "0", []),
    ],
)
async def test_ast_rate_follows_the_ship_to_state(state: str, tax: str, rates: list[str]) -> None:
    async with emulator_company(automated_sales_tax=True) as qbo:
        customer = await qbo.customer("Traveller")
        ship_to = {"Line1": "1 Main St", "City": "Town", "CountrySubDivisionCode": state}
        # A TxnTaxCodeRef the request names is overridden by AST.
        body = invoice(
            customer["Id"],
            sales("200", "TAX"),
            ShipAddr=ship_to,
            TxnTaxDetail={"TxnTaxCodeRef": {"value": "1"}},
        )
        record = await qbo.ok("invoice", body)
        assert [t[3] for t in tax_lines(record)] == [Decimal(r) for r in rates]
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal(tax)
        assert amount(record["TotalAmt"]) == Decimal("200") + Decimal(tax)
        assert record["ShipAddr"]["CountrySubDivisionCode"] == state


async def test_ast_ship_to_defaults_to_the_customer_shipping_address() -> None:
    async with emulator_company(automated_sales_tax=True) as qbo:
        customer = await qbo.customer(
            "Texan", ShipAddr={"Line1": "9 Elm", "City": "Austin", "CountrySubDivisionCode": "TX"}
        )
        record = await qbo.ok("invoice", invoice(customer["Id"], sales("100", "TAX")))
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal("6.25")


async def test_ast_honours_an_explicit_total_tax_prorated_across_the_rates() -> None:
    async with emulator_company(automated_sales_tax=True) as qbo:
        customer = await qbo.customer("Override")
        body = invoice(customer["Id"], sales("100", "TAX"), TxnTaxDetail={"TotalTax": 10})
        record = await qbo.ok("invoice", body)
        # 10 x 6 / 7.25 = 8.28; the last rate takes the rest.
        assert [t[3] for t in tax_lines(record)] == [Decimal("8.28"), Decimal("1.72")]
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal("10.00")
        assert amount(record["TotalAmt"]) == Decimal("110.00")
        # A sparse update that leaves TxnTaxDetail out has the tax computed again.
        changed = await qbo.ok(
            "invoice",
            {"Id": record["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"},
        )
        assert amount(changed["TxnTaxDetail"]["TotalTax"]) == Decimal("7.25")


async def test_us_without_ast_taxes_only_with_a_txn_tax_code(qbo: Qbo) -> None:
    prefs = (await qbo.get("preferences")).json()["Preferences"]["TaxPrefs"]
    assert (prefs["PartnerTaxEnabled"], prefs["UsingSalesTax"]) == (False, True)
    customer = await qbo.customer("Manual")
    untaxed = await qbo.ok("invoice", invoice(customer["Id"], sales("100", "TAX")))
    assert untaxed["TxnTaxDetail"] == {"TotalTax": 0}
    assert amount(untaxed["TotalAmt"]) == Decimal("100")
    group = await code_named(qbo, "San Francisco")
    body = invoice(
        customer["Id"],
        sales("100", "TAX"),
        sales("40", "NON"),
        TxnTaxDetail={"TxnTaxCodeRef": {"value": group["Id"]}},
    )
    answer = await qbo.post("invoice", body)
    assert_xsd_names(answer.json())
    record = answer.json()["Invoice"]
    assert record["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": group["Id"]}
    # 7.25% + 1.375% of the TAX line only: 7.25 + 1.38 (1.375 rounds half up).
    assert [t[1:] for t in tax_lines(record)] == [
        (Decimal("7.25"), Decimal("100.00"), Decimal("7.25")),
        (Decimal("1.375"), Decimal("100.00"), Decimal("1.38")),
    ]
    assert amount(record["TotalAmt"]) == Decimal("148.63")


@pytest.mark.parametrize(("code", "fault"), [("3", "610"), ("99", "2500")])
async def test_us_txn_tax_code_must_exist_and_be_active(qbo: Qbo, code: str, fault: str) -> None:
    customer = await qbo.customer("Manual")
    body = invoice(
        customer["Id"], sales("100", "TAX"), TxnTaxDetail={"TxnTaxCodeRef": {"value": code}}
    )
    answer = await qbo.post("invoice", body)
    assert (answer.status_code, fault_code(answer)) == (400, fault)


@pytest.mark.parametrize(
    ("after_discount", "tax", "total"),
    [(False, "7.25", "187.25"), (True, "6.53", "186.53")],
)
async def test_apply_tax_after_discount_taxes_the_discounted_amount(
    qbo: Qbo, after_discount: bool, tax: str, total: str
) -> None:
    customer = await qbo.customer("Discounted")
    body = invoice(
        customer["Id"],
        sales("100", "TAX"),
        sales("100", "NON"),
        discount(percent="10"),
        ApplyTaxAfterDiscount=after_discount,
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "1"}},
    )
    record = await qbo.ok("invoice", body)
    # The 20.00 discount is shared 10/10: the taxable line is taxed on 90.00.
    assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal(tax)
    assert amount(record["TotalAmt"]) == Decimal(total)
    assert record["ApplyTaxAfterDiscount"] is after_discount


@pytest.mark.parametrize(("rounding", "tax"), [("line", "0.06"), ("rate", "0.05")])
async def test_non_us_tax_rounds_per_line_by_default_or_per_rate(rounding: str, tax: str) -> None:
    async with emulator_company(country="GB") as qbo:
        if rounding == "rate":
            patched = await qbo.client.patch(
                f"/admin/companies/{qbo.realm_id}", json={"tax_rounding": "rate"}
            )
            assert patched.json()["tax_rounding"] == "rate"
        customer = await qbo.customer("Pennies")
        lines = [sales("0.33", "2") for _ in range(3)]  # 5.0% R
        record = await qbo.ok("invoice", invoice(customer["Id"], *lines))
        # 0.0165 per line rounds to 0.02 (x3 = 0.06); 5% of 0.99 is 0.05.
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal(tax)
        assert amount(record["TotalAmt"]) == Decimal("0.99") + Decimal(tax)


@pytest.mark.parametrize(
    ("mode", "tax", "net", "total"),
    [
        ("TaxExcluded", "24.00", "120.00", "144.00"),
        ("TaxInclusive", "20.00", "100.00", "120.00"),
        ("NotApplicable", "0", None, "120.00"),
    ],
)
async def test_global_tax_calculation(mode: str, tax: str, net: str | None, total: str) -> None:
    async with emulator_company(country="GB") as qbo:
        customer = await qbo.customer("Brit")
        body = invoice(customer["Id"], sales("120", "1"), GlobalTaxCalculation=mode)
        answer = await qbo.post("invoice", body)
        assert_xsd_names(answer.json())
        record = answer.json()["Invoice"]
        assert record["GlobalTaxCalculation"] == mode
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal(tax)
        assert [t[2] for t in tax_lines(record)] == ([Decimal(net)] if net else [])
        assert amount(record["TotalAmt"]) == Decimal(total)


async def test_non_us_tax_lines_sent_with_the_request_are_kept() -> None:
    async with emulator_company(country="GB") as qbo:
        customer = await qbo.customer("Adjusted")
        sent = {
            "TotalTax": 19.99,
            "TaxLine": [
                {
                    "Amount": 19.99,
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {"TaxRateRef": {"value": "1"}, "TaxPercent": 20},
                }
            ],
        }
        body = invoice(customer["Id"], sales("100", "1"), sales("50", "2"), TxnTaxDetail=sent)
        record = await qbo.ok("invoice", body)
        # Rate 1 as sent; rate 2 (not sent) computed: 5% of 50.
        assert [(t[0], t[3]) for t in tax_lines(record)] == [
            ("1", Decimal("19.99")),
            ("2", Decimal("2.50")),
        ]
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal("22.49")
        assert amount(record["TotalAmt"]) == Decimal("172.49")
