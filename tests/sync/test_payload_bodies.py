"""Builders on realistic events: US and non-US companies, custom numbers on and off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.events.schemas import CustomerData, ItemData
from app.sync.payloads import (
    CompanyContext,
    PayloadError,
    customer_body,
    deactivate_body,
    delete_body,
    invoice_body,
    item_body,
    payment_body,
    sparse_update,
    void_invoice_body,
    void_payment_body,
)
from tests.support.samples import (
    GB,
    INCOME_ACCOUNT,
    INVOICE_REFS,
    ITEM_REFS,
    US,
    US_CUSTOM_NUMBERS,
    customer,
    invoice,
    item,
    payment,
)


def test_context_from_connection_data() -> None:
    assert CompanyContext(is_us=True, home_currency="USD") == US
    assert US_CUSTOM_NUMBERS.custom_txn_numbers
    assert (
        CompanyContext(
            is_us=False,
            custom_txn_numbers=True,
            multicurrency=True,
            home_currency="GBP",
            default_tax_code_id="1",
        )
        == GB
    )
    from_info = CompanyContext.from_connection_data(None, {"Country": "CA"}, None)
    assert not from_info.is_us
    assert not from_info.custom_txn_numbers
    as_text = CompanyContext.from_connection_data(
        "us", None, {"SalesFormsPrefs": {"CustomTxnNumbers": "true"}}
    )
    assert as_text.is_us
    assert as_text.custom_txn_numbers


def test_context_refuses_unknown_country_and_tax_mode() -> None:
    with pytest.raises(PayloadError, match="country"):
        CompanyContext.from_connection_data(None, {}, {})
    with pytest.raises(PayloadError, match="GlobalTaxCalculation"):
        CompanyContext.from_connection_data("AU", {}, {}, global_tax_calculation="Inclusive")


def test_customer_body_us() -> None:
    assert customer_body(customer(), US) == {
        "DisplayName": "O'Brien & Sons \\ Plumbing",
        "GivenName": "Siobhan",
        "FamilyName": "O'Brien",
        "CompanyName": "O'Brien & Sons Ltd",
        "PrimaryEmailAddr": {"Address": "siobhan@obrien.example"},
        "PrimaryPhone": {"FreeFormNumber": "+1 (650) 555-0100"},
        "BillAddr": {
            "Line1": "12 Harbour Road",
            "Line2": "Unit 4",
            "City": "Half Moon Bay",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94019",
            "Country": "USA",
        },
        "Notes": "qbo-sync:customer:crm-1001",
        "Active": True,
    }


def test_customer_body_minimal_and_inactive() -> None:
    data = CustomerData.model_validate(
        {"external_id": "c-2", "display_name": "Walk-in", "active": False, "billing_address": {}}
    )
    assert customer_body(data, US) == {
        "DisplayName": "Walk-in",
        "Notes": "qbo-sync:customer:c-2",
        "Active": False,
    }


def test_customer_currency_only_with_multicurrency() -> None:
    assert customer_body(customer(currency="EUR"), GB)["CurrencyRef"] == {"value": "EUR"}
    assert "CurrencyRef" not in customer_body(customer(currency="USD"), US)
    with pytest.raises(PayloadError, match="multicurrency"):
        customer_body(customer(currency="EUR"), US)


def test_customer_body_cleans_names_the_model_did_not_check() -> None:
    # Built without validation: the builder must not rely on intake for QBO's name rules.
    data = CustomerData.model_construct(
        external_id="c-3",
        display_name="Acme:\tWest\n" + "x" * 600,
        given_name="Ann:Marie",
        family_name="Lee\tSmith",
        active=True,
    )
    body = customer_body(data, US)
    assert body["DisplayName"] == ("Acme- West " + "x" * 600)[:500]
    assert body["GivenName"] == "Ann-Marie"
    assert body["FamilyName"] == "Lee Smith"


def test_customer_body_keeps_500_character_names() -> None:
    name = "N" * 500
    assert customer_body(customer(display_name=name), US)["DisplayName"] == name


@pytest.mark.parametrize(
    ("kind", "qbo_type"), [("service", "Service"), ("non_inventory", "NonInventory")]
)
def test_item_body(kind: str, qbo_type: str) -> None:
    assert item_body(item(type=kind), INCOME_ACCOUNT) == {
        "Name": "Consulting hour",
        "Type": qbo_type,
        "UnitPrice": Decimal("99.99"),
        "Description": "Senior consultant, per hour",
        "Sku": "CONS-H",
        "IncomeAccountRef": {"value": "79", "name": "Sales of Product Income"},
        "Active": True,
    }


def test_item_body_minimal() -> None:
    data = ItemData.model_validate({"external_id": "i-1", "name": "Misc", "active": False})
    assert item_body(data, {"value": "1"}) == {
        "Name": "Misc",
        "Type": "Service",
        "IncomeAccountRef": {"value": "1"},
        "Active": False,
    }
    with pytest.raises(PayloadError, match="income account"):
        item_body(data, {"name": "Services"})


def test_invoice_body_us_without_custom_numbers() -> None:
    assert invoice_body(invoice(), US, "58", ITEM_REFS) == {
        "CustomerRef": {"value": "58"},
        "TxnDate": "2026-03-01",
        "DueDate": "2026-03-31",
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("1199.88"),
                "Description": "March retainer",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "19"},
                    "Qty": Decimal("12"),
                    "UnitPrice": Decimal("99.99"),
                    "TaxCodeRef": {"value": "TAX"},
                    "ServiceDate": "2026-03-01",
                },
            },
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("0.30"),
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "20"},
                    "Qty": Decimal("3"),
                    "UnitPrice": Decimal("0.1"),
                    "TaxCodeRef": {"value": "NON"},
                },
            },
        ],
        "CustomerMemo": {"value": "Thank you for your business"},
        "PrivateNote": "qbo-sync:invoice:inv-2026-0042",
    }


def test_invoice_doc_number_only_with_custom_numbers() -> None:
    assert invoice_body(invoice(), US_CUSTOM_NUMBERS, "58", ITEM_REFS)["DocNumber"] == "2026-0042"
    assert "DocNumber" not in invoice_body(invoice(number=None), US_CUSTOM_NUMBERS, "58", ITEM_REFS)


def test_invoice_body_non_us() -> None:
    data = invoice(currency="EUR")
    lines = [line.model_dump(mode="json") for line in data.lines]
    lines[0]["tax_code"] = "4"
    lines[1]["tax_code"] = None
    body = invoice_body(invoice(currency="EUR", lines=lines), GB, "58", ITEM_REFS)
    assert body["GlobalTaxCalculation"] == "TaxExcluded"
    assert body["DocNumber"] == "2026-0042"
    assert body["CurrencyRef"] == {"value": "EUR"}
    codes = [line["SalesItemLineDetail"]["TaxCodeRef"] for line in body["Line"]]
    assert codes == [{"value": "4"}, {"value": "1"}]
    inclusive = CompanyContext(
        is_us=False, default_tax_code_id="2", global_tax_calculation="TaxInclusive"
    )
    assert invoice_body(_with_tax_code(None), inclusive, "58", ITEM_REFS)[
        "GlobalTaxCalculation"
    ] == ("TaxInclusive")


def _with_tax_code(code: str | None) -> Any:
    lines = [line.model_dump(mode="json") for line in invoice().lines]
    lines[0]["tax_code"] = code
    return invoice(lines=lines)


def test_us_tax_codes_are_normalised() -> None:
    body = invoice_body(_with_tax_code(" tax "), US, "58", ITEM_REFS)
    assert body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "TAX"}


@pytest.mark.parametrize(
    ("ctx", "code", "match"),
    [
        (US, "7", "TAX or NON"),
        (US, "VAT20", "TAX or NON"),
        (GB, "TAX", "not one of the company's tax codes"),
        (CompanyContext(is_us=False), None, "settings set no tax_code_id"),
    ],
)
def test_tax_codes_the_company_cannot_take(
    ctx: CompanyContext, code: str | None, match: str
) -> None:
    with pytest.raises(PayloadError, match=match):
        invoice_body(_with_tax_code(code), ctx, "58", ITEM_REFS)


def test_invoice_needs_every_item_mapped() -> None:
    with pytest.raises(PayloadError, match="sku-travel"):
        invoice_body(invoice(), US, "58", {"sku-consult": "19"})


def test_payment_body() -> None:
    assert payment_body(payment(), US, "58", INVOICE_REFS) == {
        "CustomerRef": {"value": "58"},
        "TotalAmt": Decimal("1200.18"),
        "TxnDate": "2026-03-15",
        "PaymentRefNum": "CHK-5531",
        "Line": [
            {
                "Amount": Decimal("1200.18"),
                "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}],
            }
        ],
        "PrivateNote": "qbo-sync:payment:pay-77",
    }


def test_unapplied_payment_sends_an_empty_line_set() -> None:
    body = payment_body(payment(applied_to=[], reference=None), GB, "58", {})
    assert body["Line"] == []
    assert "PaymentRefNum" not in body
    assert payment_body(payment(currency="USD"), GB, "58", INVOICE_REFS)["CurrencyRef"] == {
        "value": "USD"
    }


def test_payment_needs_every_invoice_mapped() -> None:
    with pytest.raises(PayloadError, match="inv-2026-0042"):
        payment_body(payment(), US, "58", {})


def test_sparse_update_adds_identity_and_drops_create_only_fields() -> None:
    body = customer_body(customer(currency="EUR"), GB)
    update = sparse_update(body, "58", "3")
    assert update["Id"] == "58"
    assert update["SyncToken"] == "3"
    assert update["sparse"] is True
    assert "CurrencyRef" not in update
    assert {k: v for k, v in update.items() if k not in ("Id", "SyncToken", "sparse")} == {
        k: v for k, v in body.items() if k != "CurrencyRef"
    }
    update["BillAddr"]["City"] = "Changed"
    assert body["BillAddr"]["City"] == "Half Moon Bay"  # the create body is untouched
    assert "CurrencyRef" in body


def test_sparse_update_sends_lines_whole() -> None:
    body = invoice_body(invoice(), US, "58", ITEM_REFS)
    assert sparse_update(body, "130", "0")["Line"] == body["Line"]


def test_state_change_bodies() -> None:
    assert deactivate_body("58", "4") == {
        "Id": "58",
        "SyncToken": "4",
        "sparse": True,
        "Active": False,
    }
    assert delete_body("130", "2") == {"Id": "130", "SyncToken": "2"}
    assert void_invoice_body("130", "2") == {"Id": "130", "SyncToken": "2"}
    assert void_payment_body("131", "0") == {"Id": "131", "SyncToken": "0", "sparse": True}
