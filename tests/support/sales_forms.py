"""Bodies of sales forms and credit-applying payments for the emulator's tests."""

from __future__ import annotations

from typing import Any

from tests.fixtures.qbo import Qbo


def item_lines(*amounts: str, tax: str | None = None) -> list[dict[str, Any]]:
    """One sales line per amount, on the seeded Services item (TaxCodeRef `tax` if given)."""
    detail: dict[str, Any] = {"ItemRef": {"value": "1"}}
    if tax is not None:
        detail["TaxCodeRef"] = {"value": tax}
    return [
        {"Amount": float(a), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}
        for a in amounts
    ]


def applied(amount: str, txn_type: str, txn_id: str) -> dict[str, Any]:
    """A payment line applying `amount` to (or, for a credit memo, from) one transaction."""
    return {"Amount": float(amount), "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}


async def credit_memo(qbo: Qbo, customer_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
    return await qbo.ok(
        "creditmemo",
        {"CustomerRef": {"value": customer_id}, "Line": item_lines(*amounts), **fields},
    )


async def apply_credit(
    qbo: Qbo, customer_id: str, invoice_id: str, memo_id: str, amount: str
) -> dict[str, Any]:
    """A Payment of TotalAmt 0 moving `amount` of a credit memo's credit onto an invoice."""
    return await qbo.ok(
        "payment",
        {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": 0,
            "Line": [
                applied(amount, "Invoice", invoice_id),
                applied(amount, "CreditMemo", memo_id),
            ],
        },
    )


async def record(qbo: Qbo, collection: str, record_id: str) -> dict[str, Any]:
    """A record as the admin API shows it now."""
    response = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/{collection}/{record_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def books(qbo: Qbo) -> list[str]:
    """What the admin books check finds wrong (empty when balances agree)."""
    response = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/books")
    problems: list[str] = response.json()["problems"]
    return problems
