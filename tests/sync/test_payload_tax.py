"""An invoice's tax, discount and shipping as each kind of company takes them, and the
comparison of what QBO booked with what the caller sent."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from app.sync.payloads import CompanyContext, NameLists, PayloadError, invoice_body, name_keys
from app.sync.payloads.tax import mismatch
from tests.support.samples import GB, ITEM_REFS, US, invoice

AST = dataclasses.replace(US, automated_sales_tax=True, allow_discount=True, allow_shipping=True)
US_PLAIN = dataclasses.replace(US, allow_discount=True, allow_shipping=True)
GB_SALES = dataclasses.replace(GB, allow_discount=True, allow_shipping=True)
US_CODES = NameLists(
    tax_codes=name_keys([{"Id": "1", "Name": "CA State"}, {"Id": "2", "Name": "San Francisco"}])
)
# 20% standard (one rate), and a code of two rates (5% and 7%) as Canada's GST/PST.
GB_CODES = NameLists(
    tax_codes=name_keys(
        [{"Id": "1", "Name": "20.0% S"}, {"Id": "3", "Name": "0.0% Z"}, {"Id": "7", "Name": "P"}]
    ),
    code_rates={
        "1": (("10", Decimal(20)),),
        "3": (("30", Decimal(0)),),
        "7": (("51", Decimal(5)), ("52", Decimal(7))),
    },
)


def _lines(*specs: tuple[str, str | None, str | None]) -> list[dict[str, Any]]:
    """Item lines of (amount, tax code, tax amount), one unit each."""
    out = []
    for index, (amount, code, tax) in enumerate(specs):
        line: dict[str, Any] = {
            "item_external_id": "sku-consult" if index % 2 == 0 else "sku-travel",
            "quantity": "1",
            "unit_price": amount,
            "amount": amount,
        }
        if code is not None:
            line["tax_code"] = code
        if tax is not None:
            line["tax_amount"] = tax
        out.append(line)
    return out


def _body(ctx: CompanyContext, names: NameLists | None = None, **data: Any) -> dict[str, Any]:
    return invoice_body(invoice(**data), ctx, "58", ITEM_REFS, names)


def test_ast_takes_the_callers_tax_as_the_override_and_otherwise_computes() -> None:
    body = _body(
        AST, tax_total="8.70", lines=_lines(("100.00", "TAX", None), ("20.00", "NON", None))
    )
    assert body["TxnTaxDetail"] == {"TotalTax": Decimal("8.70")}
    assert "TxnTaxDetail" not in _body(AST, lines=_lines(("100.00", "TAX", None)))
    with pytest.raises(PayloadError, match="automated sales tax"):
        _body(AST, US_CODES, tax_code="CA State", lines=_lines(("100.00", "TAX", None)))


def test_taxable_flags_say_tax_or_non_in_the_us_only() -> None:
    lines = _lines(("100.00", None, None), ("20.00", None, None))
    lines[0]["taxable"], lines[1]["taxable"] = True, False
    body = _body(AST, lines=lines)
    codes = [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in body["Line"]]
    assert codes == ["TAX", "NON"]
    with pytest.raises(PayloadError, match=r"lines\[0\].taxable"):
        _body(GB_SALES, GB_CODES, lines=lines)


def test_a_us_company_without_ast_books_tax_at_the_named_code() -> None:
    body = _body(
        US_PLAIN,
        US_CODES,
        tax_code="san francisco",
        tax_total="8.63",
        lines=_lines(("100.00", "TAX", None)),
    )
    assert body["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "2"}, "TotalTax": Decimal("8.63")}
    settings_code = dataclasses.replace(US_PLAIN, default_tax_code_id="1")
    body = _body(settings_code, lines=_lines(("100.00", "TAX", None)))
    assert body["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "1"}}
    with pytest.raises(PayloadError, match="only at a sales tax code"):
        _body(US_PLAIN, tax_total="7.25", lines=_lines(("100.00", "TAX", None)))
    with pytest.raises(PayloadError, match="not one of the company's tax codes"):
        _body(US_PLAIN, US_CODES, tax_code="Nowhere", lines=_lines(("100.00", "TAX", None)))
    # No code and no tax: QBO books none, as the caller says.
    assert "TxnTaxDetail" not in _body(US_PLAIN, tax_total="0", lines=_lines(("1.00", "TAX", None)))


def test_a_company_without_sales_tax_refuses_the_callers_tax() -> None:
    untaxed = dataclasses.replace(AST, using_sales_tax=False)
    with pytest.raises(PayloadError, match="UsingSalesTax"):
        _body(untaxed, tax_total="1.00", lines=_lines(("10.00", "TAX", None)))


def test_non_us_codes_by_name_and_the_callers_tax_per_rate() -> None:
    body = _body(
        GB_SALES,
        GB_CODES,
        tax_total="4.01",
        lines=_lines(("10.03", "20.0% s", "2.01"), ("10.02", "1", "2.00"), ("5.00", "0.0% Z", "0")),
    )
    codes = [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in body["Line"]]
    assert codes == ["1", "1", "3"]
    detail = body["TxnTaxDetail"]
    assert detail["TotalTax"] == Decimal("4.01")  # QBO's line rounding: 2.01 + 2.00 = 4.01
    assert [
        (t["TaxLineDetail"]["TaxRateRef"]["value"], t["Amount"]) for t in detail["TaxLine"]
    ] == [
        ("10", Decimal("4.01")),
        ("30", Decimal("0")),
    ]
    assert detail["TaxLine"][0]["TaxLineDetail"]["TaxPercent"] == Decimal(20)


def test_a_code_of_two_rates_shares_the_tax_by_percent_and_adds_up() -> None:
    detail = _body(GB_SALES, GB_CODES, tax_total="12.01", lines=_lines(("100.00", "7", None)))[
        "TxnTaxDetail"
    ]
    amounts = [t["Amount"] for t in detail["TaxLine"]]
    assert amounts == [Decimal("5.00"), Decimal("7.01")]  # 5/12 of 12.01, the rest
    assert sum(amounts) == detail["TotalTax"]


def test_the_callers_total_is_spread_by_what_each_rate_takes() -> None:
    detail = _body(
        GB_SALES,
        GB_CODES,
        tax_total="26.00",
        lines=_lines(("100.00", "1", None), ("50.00", "7", None)),
    )["TxnTaxDetail"]
    # weights 20x100 = 2000, 5x50 = 250, 7x50 = 350: 20.00, 2.50, the rest 3.50
    assert [t["Amount"] for t in detail["TaxLine"]] == [
        Decimal("20.00"),
        Decimal("2.50"),
        Decimal("3.50"),
    ]


def test_unknown_rates_leave_the_split_to_qbo_and_tax_inclusive_goes_per_invoice() -> None:
    names = dataclasses.replace(GB_CODES, code_rates={})
    body = _body(
        GB_SALES, names, tax_total="2.00", tax_inclusive=True, lines=_lines(("12.00", "1", None))
    )
    assert body["TxnTaxDetail"] == {"TotalTax": Decimal("2.00")}
    assert body["GlobalTaxCalculation"] == "TaxInclusive"
    with pytest.raises(PayloadError, match="tax_inclusive"):
        _body(AST, tax_inclusive=True, lines=_lines(("12.00", "TAX", None)))


def test_line_tax_amounts_must_add_up_to_the_total() -> None:
    with pytest.raises(ValueError, match="sum of the lines' tax_amount"):
        invoice(tax_total="3.00", lines=_lines(("10.00", "1", "2.00"), ("10.00", "1", "0.50")))
    with pytest.raises(ValueError, match="required when a line"):
        invoice(lines=_lines(("10.00", "1", "2.00")))


def test_discounts_by_amount_or_percent_with_the_companys_account() -> None:
    ctx = dataclasses.replace(AST, discount_account_id="86")
    body = _body(
        ctx, discount={"percent": "10", "before_tax": True}, lines=_lines(("50.00", "TAX", None))
    )
    assert body["Line"][-1] == {
        "DetailType": "DiscountLineDetail",
        "Amount": Decimal("5.00"),
        "DiscountLineDetail": {
            "PercentBased": True,
            "DiscountPercent": Decimal(10),
            "DiscountAccountRef": {"value": "86"},
        },
    }
    assert body["ApplyTaxAfterDiscount"] is True
    body = _body(AST, discount={"amount": "7.50"}, lines=_lines(("50.00", "TAX", None)))
    assert body["Line"][-1]["Amount"] == Decimal("7.50")
    assert body["Line"][-1]["DiscountLineDetail"] == {"PercentBased": False}
    assert body["ApplyTaxAfterDiscount"] is False
    with pytest.raises(PayloadError, match="more than the item lines"):
        _body(AST, discount={"amount": "60.00"}, lines=_lines(("50.00", "TAX", None)))
    with pytest.raises(ValueError, match="exactly one"):
        invoice(discount={"amount": "1.00", "percent": "5"})


def test_a_company_without_discounts_refuses_one_naming_the_preference() -> None:
    with pytest.raises(PayloadError, match=r"SalesFormsPrefs\.AllowDiscount"):
        _body(US, discount={"amount": "1.00"}, lines=_lines(("50.00", "TAX", None)))


def test_shipping_goes_as_qbos_shipping_line_or_the_companys_shipping_item() -> None:
    body = _body(
        AST, shipping={"amount": "9.95", "taxable": True}, lines=_lines(("50.00", "TAX", None))
    )
    assert body["Line"][-1] == {
        "DetailType": "SalesItemLineDetail",
        "Amount": Decimal("9.95"),
        "SalesItemLineDetail": {
            "ItemRef": {"value": "SHIPPING_ITEM_ID"},
            "TaxCodeRef": {"value": "TAX"},
        },
    }
    untaxed = _body(AST, shipping={"amount": "9.95"}, lines=_lines(("50.00", "TAX", None)))
    assert untaxed["Line"][-1]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    item = dataclasses.replace(US, shipping_item_id="33", allow_discount=True)
    body = _body(
        item,
        shipping={"amount": "9.95"},
        discount={"percent": "10"},
        lines=_lines(("50.00", "TAX", None)),
    )
    assert body["Line"][-1]["SalesItemLineDetail"] == {
        "ItemRef": {"value": "33"},
        "Qty": Decimal(1),
        "UnitPrice": Decimal("9.95"),
        "TaxCodeRef": {"value": "NON"},
    }
    # QBO would discount an ordinary shipping line too: the discount goes as its amount.
    assert body["Line"][-2]["Amount"] == Decimal("5.00")
    assert body["Line"][-2]["DiscountLineDetail"] == {"PercentBased": False}
    with pytest.raises(PayloadError, match=r"SalesFormsPrefs\.AllowShipping"):
        _body(US, shipping={"amount": "9.95"}, lines=_lines(("50.00", "TAX", None)))


def test_non_us_shipping_carries_its_tax_code() -> None:
    body = _body(
        GB_SALES,
        GB_CODES,
        shipping={"amount": "5.00", "tax_code": "20.0% S"},
        lines=_lines(("50.00", "1", None)),
    )
    assert body["Line"][-1]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "1"}


def _record(total: str, tax: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"TotalAmt": total}
    if tax is not None:
        record["TxnTaxDetail"] = {"TotalTax": tax}
    return record


def test_what_qbo_booked_against_what_the_caller_sent() -> None:
    data = invoice(
        tax_total="8.70",
        discount={"amount": "10.00"},
        shipping={"amount": "5.00"},
        lines=_lines(("100.00", "TAX", None), ("20.00", "NON", None)),
    )
    # 120 - 10 + 5 + 8.70
    assert mismatch(data, AST, _record("123.70", "8.70"), Decimal(0)) is None
    found = mismatch(data, AST, _record("123.71", "8.71"), Decimal(0))
    assert found == {
        "expected": {"total": "123.70", "tax": "8.70"},
        "booked": {"total": "123.71", "tax": "8.71"},
        "difference": {"total": "0.01", "tax": "0.01"},
        "tolerance": "0",
    }
    assert mismatch(data, AST, _record("123.71", "8.71"), Decimal("0.01")) is None


def test_without_the_callers_tax_the_rest_of_the_total_is_still_compared() -> None:
    data = invoice(lines=_lines(("100.00", "TAX", None)))
    assert mismatch(data, AST, _record("107.25", "7.25"), Decimal(0)) is None
    found = mismatch(data, AST, _record("100.00", None), Decimal(0))
    assert found is None  # no tax booked, none expected
    dropped = invoice(discount={"amount": "10.00"}, lines=_lines(("100.00", "TAX", None)))
    found = mismatch(dropped, AST, _record("107.25", "7.25"), Decimal(0))
    assert found is not None
    assert found["difference"] == {"total": "10.00", "tax": None}


def test_tax_inclusive_totals_hold_the_tax() -> None:
    inclusive = dataclasses.replace(GB, global_tax_calculation="TaxInclusive")
    data = invoice(tax_total="2.00", lines=_lines(("12.00", "1", None)))
    assert mismatch(data, inclusive, _record("12.00", "2.00"), Decimal(0)) is None
    assert mismatch(data, GB, _record("12.00", "2.00"), Decimal(0)) is not None
