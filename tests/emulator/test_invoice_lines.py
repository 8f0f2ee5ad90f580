"""Invoice lines and header fields as QBO books them: discounts (and AllowDiscount),
shipping (and AllowShipping), description-only and subtotal lines, custom fields,
e-mail, ship-to and memo fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.emulator.test_xsd import assert_xsd_names
from tests.fixtures.qbo import Qbo, emulator_company, fault_code
from tests.support.invoice_bodies import discount, invoice, sales, shipping, valid


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def kinds(record: dict[str, Any]) -> list[tuple[str, Decimal | None]]:
    return [
        (line["DetailType"], amount(line["Amount"]) if "Amount" in line else None)
        for line in record["Line"]
    ]


async def prefs(qbo: Qbo) -> dict[str, Any]:
    answer = (await qbo.get("preferences")).json()
    assert_xsd_names(answer)
    sales_prefs: dict[str, Any] = answer["Preferences"]["SalesFormsPrefs"]
    return sales_prefs


async def patch(qbo: Qbo, **changes: Any) -> dict[str, Any]:
    answer = await qbo.client.patch(f"/admin/companies/{qbo.realm_id}", json=changes)
    assert answer.status_code == 200, answer.text
    summary: dict[str, Any] = answer.json()
    return summary


async def test_percent_discount_takes_its_share_of_the_subtotal(qbo: Qbo) -> None:
    customer = await qbo.customer("Bargain")
    # The discount line may come first: it applies to every sales line.
    body = invoice(
        customer["Id"],
        discount(percent="10"),
        sales("30"),
        sales("20.05"),
        ApplyTaxAfterDiscount=False,
    )
    answer = await qbo.post("invoice", body)
    assert answer.status_code == 200, answer.text
    assert_xsd_names(answer.json())
    record = answer.json()["Invoice"]
    assert kinds(record) == [
        ("DiscountLineDetail", Decimal("5.01")),  # 10% of 50.05, half up
        ("SalesItemLineDetail", Decimal("30.00")),
        ("SalesItemLineDetail", Decimal("20.05")),
        ("SubTotalLineDetail", Decimal("50.05")),
    ]
    assert record["Line"][0]["DiscountLineDetail"]["DiscountPercent"] == 10
    assert amount(record["TotalAmt"]) == Decimal("45.04")


async def test_discount_amount_and_percent_must_agree(qbo: Qbo) -> None:
    customer = await qbo.customer("Bargain")
    agreed = invoice(customer["Id"], sales("50"), discount("5.00", "10"))
    assert amount((await qbo.ok("invoice", agreed))["TotalAmt"]) == Decimal("45.00")
    wrong = invoice(customer["Id"], sales("50"), discount("6.00", "10"))
    answer = await qbo.post("invoice", wrong)
    assert (answer.status_code, fault_code(answer)) == (400, "6000")
    assert "discount percentage" in answer.json()["Fault"]["Error"][0]["Detail"]


async def test_amount_discount_with_account_and_its_limits(qbo: Qbo) -> None:
    customer = await qbo.customer("Bargain")
    line = discount("12.50")
    line["DiscountLineDetail"]["DiscountAccountRef"] = {"value": "13"}
    record = await qbo.ok("invoice", invoice(customer["Id"], sales("100"), line))
    stored = record["Line"][1]["DiscountLineDetail"]
    assert stored["DiscountAccountRef"] == {"value": "13", "name": "Discounts given"}
    assert amount(record["TotalAmt"]) == Decimal("87.50")
    too_much = await qbo.post("invoice", invoice(customer["Id"], sales("10"), discount("11")))
    assert fault_code(too_much) == "6000"


async def test_discount_lines_are_dropped_when_the_company_allows_no_discount(qbo: Qbo) -> None:
    assert (await prefs(qbo))["AllowDiscount"] is True
    assert (await patch(qbo, allow_discount=False))["allow_discount"] is False
    assert (await prefs(qbo))["AllowDiscount"] is False
    customer = await qbo.customer("No Deals")
    record = await qbo.ok("invoice", invoice(customer["Id"], sales("50"), discount(percent="10")))
    assert [k for k, _ in kinds(record)] == ["SalesItemLineDetail", "SubTotalLineDetail"]
    assert amount(record["TotalAmt"]) == Decimal("50.00")


async def test_shipping_needs_allow_shipping(qbo: Qbo) -> None:
    customer = await qbo.customer("Shipper")
    body = invoice(customer["Id"], sales("100"), shipping("15"))
    refused = await qbo.post("invoice", body)
    assert (refused.status_code, fault_code(refused)) == (400, "2500")
    assert refused.json()["Fault"]["Error"][0]["element"] == "Line.SalesItemLineDetail.ItemRef"
    await patch(qbo, allow_shipping=True)
    assert (await prefs(qbo))["AllowShipping"] is True
    answer = await qbo.post("invoice", body)
    assert answer.status_code == 200, answer.text
    assert_xsd_names(answer.json())
    record = answer.json()["Invoice"]
    assert record["Line"][1]["SalesItemLineDetail"] == {
        "ItemRef": {"value": "SHIPPING_ITEM_ID"},
        "TaxCodeRef": {"value": "NON"},
    }
    assert kinds(record)[-1] == ("SubTotalLineDetail", Decimal("100.00"))  # not shipping
    assert amount(record["TotalAmt"]) == Decimal("115.00")


async def test_shipping_is_taxed_by_its_code_and_never_discounted() -> None:
    async with emulator_company(automated_sales_tax=True, allow_shipping=True) as qbo:
        customer = await qbo.customer("Shipper")
        body = invoice(
            customer["Id"],
            sales("100", "TAX"),
            discount(percent="10"),
            shipping("20", "TAX"),
            ApplyTaxAfterDiscount=True,
        )
        record = await qbo.ok("invoice", body)
        # Discount 10.00 on the 100.00 subtotal only; CA 7.25% on 90 + 20 = 7.98 (per line
        # 6.525 -> 6.53 and 1.45).
        assert amount(record["Line"][1]["Amount"]) == Decimal("10.00")
        assert amount(record["TxnTaxDetail"]["TotalTax"]) == Decimal("7.98")
        assert amount(record["TotalAmt"]) == Decimal("117.98")


async def test_description_only_and_subtotal_lines_book_nothing(qbo: Qbo) -> None:
    customer = await qbo.customer("Notes")
    note = {"DetailType": "DescriptionOnly", "Description": "Just a Description"}
    sent_subtotal = {"Amount": 999, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    only = await qbo.ok("invoice", invoice(customer["Id"], dict(note)))
    assert kinds(only) == [("DescriptionOnly", None), ("SubTotalLineDetail", Decimal("0"))]
    assert only["Line"][0]["DescriptionLineDetail"] == {}
    assert amount(only["TotalAmt"]) == Decimal("0")
    mixed = await qbo.ok(
        "invoice", invoice(customer["Id"], sales("40"), {**note, "Amount": 5}, sent_subtotal)
    )
    assert kinds(mixed) == [
        ("SalesItemLineDetail", Decimal("40.00")),
        ("DescriptionOnly", None),
        ("SubTotalLineDetail", Decimal("40.00")),
    ]
    assert amount(mixed["TotalAmt"]) == Decimal("40.00")


async def test_custom_fields_follow_the_company_definitions(qbo: Qbo) -> None:
    definitions = (await prefs(qbo))["CustomField"]
    names = {
        f["Name"]: f.get("StringValue", f.get("BooleanValue"))
        for g in definitions
        for f in g["CustomField"]
    }
    assert names["SalesFormsPrefs.SalesCustomName1"] == "Crew #"
    assert names["SalesFormsPrefs.SalesCustomName3"] == "Sales Rep"
    assert names["SalesFormsPrefs.UseSalesCustom2"] is True
    customer = await qbo.customer("Custom")
    fields = [
        {"DefinitionId": "2", "Name": "whatever", "Type": "StringType", "StringValue": "PO-77"},
        {"DefinitionId": "7", "Type": "StringType", "StringValue": "lost"},
    ]
    record = await qbo.ok("invoice", invoice(customer["Id"], sales("10"), CustomField=fields))
    assert record["CustomField"] == [
        {"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"},
        {"DefinitionId": "2", "Name": "PO Ref", "Type": "StringType", "StringValue": "PO-77"},
        {"DefinitionId": "3", "Name": "Sales Rep", "Type": "StringType"},
    ]
    long_value = [{"DefinitionId": "1", "Type": "StringType", "StringValue": "x" * 32}]
    too_long = await qbo.post(
        "invoice", invoice(customer["Id"], sales("10"), CustomField=long_value)
    )
    assert fault_code(too_long) == "2050"
    await patch(
        qbo,
        custom_fields=[{"name": "Crew #", "enabled": False}, {"name": "Job Site"}],
    )
    again = await qbo.ok("invoice", invoice(customer["Id"], sales("10"), CustomField=fields))
    assert again["CustomField"] == [
        {"DefinitionId": "2", "Name": "Job Site", "Type": "StringType", "StringValue": "PO-77"}
    ]


async def test_header_fields_are_stored_and_returned(qbo: Qbo) -> None:
    customer = await qbo.customer("Mailed", BillAddr={"Line1": "1 Bill St", "City": "Billings"})
    ship_to = {"Line1": "2 Ship Rd", "City": "Portland", "CountrySubDivisionCode": "OR"}
    body = invoice(
        customer["Id"],
        sales("25"),
        BillEmail={"Address": "ap@example.com"},
        BillEmailCc={"Address": "cc@example.com"},
        BillEmailBcc={"Address": "audit@example.com"},
        EmailStatus="NeedToSend",
        ShipAddr=ship_to,
        ShipDate="2026-02-03",
        CustomerMemo={"value": "Thank you"},
        PrivateNote="internal",
    )
    answer = await qbo.post("invoice", body)
    assert answer.status_code == 200, answer.text
    assert_xsd_names(answer.json())
    read = (await qbo.get(f"invoice/{answer.json()['Invoice']['Id']}")).json()["Invoice"]
    assert read["BillEmail"] == {"Address": "ap@example.com"}
    assert read["BillEmailCc"] == {"Address": "cc@example.com"}
    assert read["BillEmailBcc"] == {"Address": "audit@example.com"}
    assert read["EmailStatus"] == "NeedToSend"
    assert read["ShipAddr"] == ship_to
    assert read["BillAddr"]["Line1"] == "1 Bill St"
    assert (read["ShipDate"], read["CustomerMemo"], read["PrivateNote"]) == (
        "2026-02-03",
        {"value": "Thank you"},
        "internal",
    )


@pytest.mark.parametrize(
    ("fields", "code", "element"),
    [
        ({"EmailStatus": "NeedToSend"}, "2020", None),
        ({"BillEmail": {"Address": "not-an-address"}}, "2210", "BillEmail.Address"),
        ({"BillEmailCc": {"Address": "a@b.com, nope"}}, "2210", "BillEmailCc.Address"),
        ({"ShipDate": "03/02/2026"}, "2010", "ShipDate"),
        ({"CustomerMemo": {"value": "m" * 1001}}, "2050", "CustomerMemo"),
    ],
)
async def test_header_fields_are_checked(
    qbo: Qbo, fields: dict[str, Any], code: str, element: str | None
) -> None:
    customer = await qbo.customer("Checked")
    answer = await qbo.post("invoice", invoice(customer["Id"], sales("25"), **fields))
    assert (answer.status_code, fault_code(answer)) == (400, code)
    if element is not None:
        assert answer.json()["Fault"]["Error"][0]["element"] == element


async def test_request_bodies_here_are_xsd_valid() -> None:
    assert valid("Invoice", invoice("1", sales("1"), shipping("1"), discount("1")))
