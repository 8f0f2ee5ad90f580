"""Credit memos, sales receipts and refunds are sales forms like invoices; an applied
credit is the Payment of total 0 that spends a credit memo on invoices."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from app.events.schemas import (
    AppliedCreditData,
    CreditMemoData,
    RefundData,
    SalesReceiptData,
)
from app.sync.payloads import (
    PayloadError,
    applied_credit_body,
    paid_sale_body,
    sales_form_body,
    sparse_update,
)
from tests.support.samples import ITEM_REFS, US, invoice
from tests.support.xsd_names import unknown_names


def _form(**more: Any) -> dict[str, Any]:
    data = invoice().model_dump(mode="json", exclude_none=True, by_alias=True)
    for key in ("due_date", "terms"):
        data.pop(key, None)
    return {**data, **more}


def test_a_credit_memo_is_a_sales_form_with_its_own_marker() -> None:
    data = CreditMemoData.model_validate(_form(external_id="cm-1"))
    body = sales_form_body("credit_memo", data, US, "58", ITEM_REFS)
    assert body["PrivateNote"] == "qbo-sync:credit_memo:cm-1"
    assert [line["Amount"] for line in body["Line"]] == [Decimal("1199.88"), Decimal("0.30")]
    assert "DueDate" not in body
    assert unknown_names(body, "CreditMemo") == []
    assert unknown_names(sparse_update(body, "7", "1"), "CreditMemo") == []


def test_a_sales_receipt_carries_its_method_reference_and_deposit_account() -> None:
    data = SalesReceiptData.model_validate(_form(external_id="sr-1", reference="TX-9"))
    ctx = dataclasses.replace(US, deposit_account_id="35")
    body = paid_sale_body("sales_receipt", data, ctx, "58", ITEM_REFS, None, "4")
    assert body["PaymentMethodRef"] == {"value": "4"}
    assert body["PaymentRefNum"] == "TX-9"
    assert body["DepositToAccountRef"] == {"value": "35"}
    assert unknown_names(body, "SalesReceipt") == []
    # Without a deposit account QBO puts the money in Undeposited Funds.
    assert "DepositToAccountRef" not in paid_sale_body("sales_receipt", data, US, "58", ITEM_REFS)


def test_a_refund_is_paid_from_the_companys_account_and_links_what_it_refunds() -> None:
    data = RefundData.model_validate(_form(external_id="rf-1", refunds_credit_memo="cm-1"))
    ctx = dataclasses.replace(US, deposit_account_id="35")
    linked = {"TxnId": "88", "TxnType": "CreditMemo"}
    body = paid_sale_body("refund", data, ctx, "58", ITEM_REFS, linked=linked)
    assert body["DepositToAccountRef"] == {"value": "35"}
    assert body["LinkedTxn"] == [linked]
    assert body["PrivateNote"] == "qbo-sync:refund:rf-1"
    assert unknown_names(body, "RefundReceipt") == []
    with pytest.raises(PayloadError, match="deposit_account_id"):
        paid_sale_body("refund", data, US, "58", ITEM_REFS)
    with pytest.raises(ValueError, match="not both"):
        RefundData.model_validate(_form(refunds_payment="p-1", refunds_credit_memo="cm-1"))


def test_an_applied_credit_links_the_credit_memo_and_the_invoices() -> None:
    data = AppliedCreditData.model_validate(
        {
            "external_id": "cm-1",
            "customer_external_id": "c1",
            "date": "2026-11-26",
            "applied_to": [
                {"invoice_external_id": "inv-1", "amount": "40.00"},
                {"invoice_external_id": "inv-2", "amount": "10.00"},
            ],
        }
    )
    body = applied_credit_body(data, "58", "88", {"inv-1": "130", "inv-2": "131"})
    assert body["TotalAmt"] == Decimal(0)
    assert body["Line"] == [
        {"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": Decimal("10.00"), "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
        {"Amount": Decimal("50.00"), "LinkedTxn": [{"TxnId": "88", "TxnType": "CreditMemo"}]},
    ]
    assert body["PrivateNote"] == "qbo-sync:applied_credit:cm-1"
    assert unknown_names(body, "Payment") == []
    unapplied = applied_credit_body(data.model_copy(update={"applied_to": []}), "58", "88", {})
    assert unapplied["Line"] == []
    with pytest.raises(PayloadError, match="inv-2"):
        applied_credit_body(data, "58", "88", {"inv-1": "130"})


def test_a_credit_memo_applies_each_invoice_once() -> None:
    twice = [{"invoice_external_id": "inv-1", "amount": "1.00"}] * 2
    with pytest.raises(ValueError, match="applied twice"):
        CreditMemoData.model_validate(_form(applied_to=twice))
