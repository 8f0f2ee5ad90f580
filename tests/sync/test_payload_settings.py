"""What a company's own settings put in its bodies: default taxability, class and
department, deposit-to account and payment method, expense account, whose DocNumber."""

from __future__ import annotations

import dataclasses

import pytest

from app.sync.payloads import CompanyContext, PayloadError, invoice_body, item_body, payment_body
from tests.support.samples import (
    INCOME_ACCOUNT,
    INVOICE_REFS,
    ITEM_REFS,
    US,
    invoice,
    item,
    payment,
)

TRACKING = {
    "AccountingInfoPrefs": {
        "ClassTrackingPerTxn": True,
        "ClassTrackingPerTxnLine": False,
        "TrackDepartments": True,
    }
}


def test_us_lines_that_say_nothing_follow_the_default_taxability() -> None:
    data = invoice()
    silent = [i for i, line in enumerate(data.lines) if line.tax_code is None]
    assert silent, "the sample has a line without a tax code"

    def codes(ctx: CompanyContext) -> set[str]:
        lines = invoice_body(data, ctx, "1", ITEM_REFS)["Line"]
        return {lines[i]["SalesItemLineDetail"]["TaxCodeRef"]["value"] for i in silent}

    assert codes(dataclasses.replace(US, default_taxable=True)) == {"TAX"}
    assert codes(US) == {"NON"}


def test_class_and_department_go_where_the_preferences_track_them() -> None:
    per_txn = CompanyContext.from_connection_data(
        "US", None, TRACKING, class_id="7", department_id="3"
    )
    body = invoice_body(invoice(), per_txn, "1", ITEM_REFS)
    assert body["ClassRef"] == {"value": "7"}
    assert body["DepartmentRef"] == {"value": "3"}
    assert all("ClassRef" not in line["SalesItemLineDetail"] for line in body["Line"])

    per_line = CompanyContext.from_connection_data(
        "US",
        None,
        {"AccountingInfoPrefs": {"ClassTrackingPerTxnLine": True}},
        class_id="7",
    )
    body = invoice_body(invoice(), per_line, "1", ITEM_REFS)
    assert "ClassRef" not in body
    assert "DepartmentRef" not in body
    assert {line["SalesItemLineDetail"]["ClassRef"]["value"] for line in body["Line"]} == {"7"}


def test_a_class_or_department_the_company_does_not_track_is_refused() -> None:
    untracked = CompanyContext.from_connection_data("US", None, {}, class_id="7")
    with pytest.raises(PayloadError, match="ClassTrackingPerTxn"):
        invoice_body(invoice(), untracked, "1", ITEM_REFS)
    no_locations = CompanyContext.from_connection_data("US", None, {}, department_id="3")
    with pytest.raises(PayloadError, match="TrackDepartments"):
        invoice_body(invoice(), no_locations, "1", ITEM_REFS)
    with pytest.raises(PayloadError, match="TrackDepartments"):
        payment_body(payment(), no_locations, "1", INVOICE_REFS)


def test_payments_carry_the_method_and_the_deposit_account() -> None:
    ctx = CompanyContext.from_connection_data("US", None, TRACKING, deposit_account_id="35")
    body = payment_body(payment(), ctx, "1", INVOICE_REFS, method_id="2")
    assert body["PaymentMethodRef"] == {"value": "2"}
    assert body["DepositToAccountRef"] == {"value": "35"}
    unset = payment_body(payment(), US, "1", INVOICE_REFS)
    assert "PaymentMethodRef" not in unset
    assert "DepositToAccountRef" not in unset  # QBO's Undeposited Funds


def test_non_inventory_items_carry_the_expense_account() -> None:
    goods = item(type="non_inventory")
    assert item_body(goods, INCOME_ACCOUNT, "80")["ExpenseAccountRef"] == {"value": "80"}
    assert "ExpenseAccountRef" not in item_body(goods, INCOME_ACCOUNT)
    assert "ExpenseAccountRef" not in item_body(item(), INCOME_ACCOUNT, "80")


def test_whose_doc_number_the_company_settings_can_override() -> None:
    numbered = {"SalesFormsPrefs": {"CustomTxnNumbers": True}}
    assert CompanyContext.from_connection_data("US", None, numbered).custom_txn_numbers
    assert not CompanyContext.from_connection_data(
        "US", None, numbered, doc_number_ours=False
    ).custom_txn_numbers
    assert CompanyContext.from_connection_data(
        "US", None, {}, doc_number_ours=True
    ).custom_txn_numbers
