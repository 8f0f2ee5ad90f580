"""SalesReceipt and RefundReceipt: sales-form lines with the money's account and method,
Balance 0, void and delete."""

from __future__ import annotations

import pytest

from tests.fixtures.qbo import Qbo, emulator_company, fault_code
from tests.support.sales_forms import item_lines
from tests.support.xsd_names import unknown_names


async def test_a_sales_receipt_is_paid_on_the_spot() -> None:
    async with emulator_company(allow_shipping=True) as qbo:
        customer = await qbo.customer("Receipt Ann", BillAddr={"Line1": "1 Main St"})
        receipt = await qbo.ok(
            "salesreceipt",
            {
                "CustomerRef": {"value": customer["Id"]},
                "Line": [
                    *item_lines("100", tax="TAX"),
                    {
                        "Amount": 10,
                        "DetailType": "DiscountLineDetail",
                        "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
                    },
                    {
                        "Amount": 5,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": "SHIPPING_ITEM_ID"}},
                    },
                ],
                "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "1"}},  # CA State, 7.25 %
                "PaymentMethodRef": {"value": "2"},
                "PaymentRefNum": "10264",
            },
        )
    assert receipt["TxnTaxDetail"]["TotalTax"] == 7.25
    assert receipt["TotalAmt"] == 102.25  # 100 - 10 + 5 + 7.25
    assert receipt["Balance"] == 0
    assert receipt["DepositToAccountRef"] == {"value": "4", "name": "Undeposited Funds"}
    assert receipt["PaymentMethodRef"] == {"value": "2", "name": "Check"}
    assert receipt["PaymentRefNum"] == "10264"
    assert receipt["BillAddr"] == {"Id": customer["BillAddr"]["Id"], "Line1": "1 Main St"}
    assert receipt["DocNumber"] == "1001"
    assert "DueDate" not in receipt
    assert not unknown_names(receipt, "SalesReceipt")


async def test_sales_receipt_rules(qbo: Qbo) -> None:
    # No customer is fine (a recorded sandbox receipt has none).
    cash = await qbo.ok(
        "salesreceipt", {"Line": item_lines("20"), "DepositToAccountRef": {"value": "7"}}
    )
    assert "CustomerRef" not in cash
    assert cash["DepositToAccountRef"] == {"value": "7", "name": "Checking"}
    income = await qbo.post(
        "salesreceipt", {"Line": item_lines("20"), "DepositToAccountRef": {"value": "1"}}
    )
    assert fault_code(income) == "6000"
    missing = await qbo.post(
        "salesreceipt", {"Line": item_lines("20"), "DepositToAccountRef": {"value": "99"}}
    )
    assert fault_code(missing) == "2500"
    method = await qbo.post(
        "salesreceipt", {"Line": item_lines("20"), "PaymentMethodRef": {"value": "6"}}
    )
    assert fault_code(method) == "610"  # Barter is inactive
    unknown = await qbo.post("salesreceipt", {"Line": item_lines("20"), "RemainingCredit": 1})
    assert fault_code(unknown) == "2010"  # a credit memo's field, not a sales receipt's
    listed = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/salesreceipts")
    assert [r["Id"] for r in listed.json()] == [cash["Id"]]


@pytest.mark.parametrize(
    ("params"),
    [{"operation": "update", "include": "void"}, {"operation": "void"}],
    ids=["include=void", "operation=void"],
)
async def test_voiding_a_sales_receipt_zeroes_it(qbo: Qbo, params: dict[str, str]) -> None:
    receipt = await qbo.ok("salesreceipt", {"Line": item_lines("20"), "PrivateNote": "till 3"})
    voided = await qbo.ok(
        "salesreceipt", {"Id": receipt["Id"], "SyncToken": "0", "sparse": True}, **params
    )
    assert voided["PrivateNote"] == "Voided - till 3"
    assert (voided["TotalAmt"], voided["Balance"], voided["SyncToken"]) == (0, 0, "1")
    assert voided["Line"][0]["Amount"] == 0
    read = (await qbo.get(f"salesreceipt/{receipt['Id']}")).json()["SalesReceipt"]
    assert read == voided


async def test_deleting_a_sales_receipt_leaves_a_tombstone(qbo: Qbo) -> None:
    receipt = await qbo.ok("salesreceipt", {"Line": item_lines("20")})
    deleted = await qbo.ok(
        "salesreceipt", {"Id": receipt["Id"], "SyncToken": "0"}, operation="delete"
    )
    assert deleted == {"domain": "QBO", "status": "Deleted", "Id": receipt["Id"]}
    assert fault_code(await qbo.get(f"salesreceipt/{receipt['Id']}")) == "610"
    since = receipt["MetaData"]["CreateTime"]
    cdc = await qbo.get("cdc", entities="SalesReceipt", changedSince=since)
    objects = cdc.json()["CDCResponse"][0]["QueryResponse"][0]["SalesReceipt"]
    assert [(o["Id"], o["status"]) for o in objects] == [(receipt["Id"], "Deleted")]


async def test_a_refund_receipt_pays_money_back(qbo: Qbo) -> None:
    customer = await qbo.customer("Refund Ann")
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": item_lines("45", tax="TAX"),
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "1"}},
        "PaymentMethodRef": {"value": "1"},
    }
    no_account = await qbo.post("refundreceipt", body)
    assert fault_code(no_account) == "2020"
    assert no_account.json()["Fault"]["Error"][0]["element"] == "DepositToAccountRef"
    no_customer = await qbo.post(
        "refundreceipt", {"Line": item_lines("5"), "DepositToAccountRef": {"value": "7"}}
    )
    assert fault_code(no_customer) == "2020"
    refund = await qbo.ok("refundreceipt", {**body, "DepositToAccountRef": {"value": "7"}})
    assert refund["TxnTaxDetail"]["TotalTax"] == 3.26  # 45 x 7.25 % = 3.2625
    assert refund["TotalAmt"] == 48.26
    assert refund["Balance"] == 0
    assert refund["DepositToAccountRef"] == {"value": "7", "name": "Checking"}
    assert refund["PaymentMethodRef"] == {"value": "1", "name": "Cash"}
    assert not unknown_names(refund, "RefundReceipt")
    # The emulator keeps no running account balances: Checking is as seeded.
    checking = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/accounts/7")
    assert checking.json()["CurrentBalance"] == 0

    voided = await qbo.ok("refundreceipt", {"Id": refund["Id"], "SyncToken": "0"}, operation="void")
    assert (voided["TotalAmt"], voided["PrivateNote"]) == (0, "Voided")
    deleted = await qbo.ok(
        "refundreceipt", {"Id": refund["Id"], "SyncToken": "1"}, operation="delete"
    )
    assert deleted["status"] == "Deleted"
    listed = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/refundreceipts")
    assert listed.json() == []
    wrong_void = await qbo.post(
        "refundreceipt",
        {"Id": refund["Id"], "SyncToken": "1"},
        operation="update",
        include="void",
    )
    assert fault_code(wrong_void) == "500"
