"""CreditMemo: lines and tax as on an invoice, RemainingCredit, and payments that apply its
credit to invoices (balances, over-application, voiding or deleting the payment)."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.qbo import Qbo, fault_code
from tests.support.sales_forms import applied, apply_credit, books, credit_memo, record
from tests.support.xsd_names import unknown_names


async def test_a_credit_memo_books_lines_and_tax_like_an_invoice(qbo: Qbo) -> None:
    customer = await qbo.customer("Credit Ann")
    invoice = await qbo.invoice(customer["Id"], "10")
    memo = await qbo.ok(
        "creditmemo",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": 100,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "1"},
                        "Qty": 4,
                        "UnitPrice": 25,
                        "TaxCodeRef": {"value": "TAX"},
                    },
                },
                {
                    "Amount": 10,
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {"PercentBased": False},
                },
            ],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},  # San Francisco, 8.625 %
            "ClassRef": {"value": "1"},
            "CustomField": [{"DefinitionId": "1", "StringValue": "C-7"}],
        },
    )
    assert memo["TxnTaxDetail"]["TotalTax"] == 8.63
    assert memo["TotalAmt"] == 98.63  # 100 - 10 + 8.63
    assert memo["RemainingCredit"] == memo["Balance"] == memo["TotalAmt"]
    assert memo["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert memo["ClassRef"] == {"value": "1", "name": "Retail"}
    assert memo["CustomField"][0]["StringValue"] == "C-7"
    assert memo["DocNumber"] == str(int(invoice["DocNumber"]) + 1)  # one sequence
    assert "DueDate" not in memo
    assert not unknown_names(memo, "CreditMemo")

    read = await qbo.get(f"creditmemo/{memo['Id']}")
    assert read.json()["CreditMemo"] == memo
    found = (await qbo.query("SELECT * FROM CreditMemo WHERE Balance > '0'")).json()
    assert [m["Id"] for m in found["QueryResponse"]["CreditMemo"]] == [memo["Id"]]


async def test_credit_memo_rules(qbo: Qbo) -> None:
    customer = await qbo.customer("Rules Ann")
    no_customer = await qbo.post("creditmemo", {"Line": []})
    assert fault_code(no_customer) == "2020"
    unknown = await qbo.post(
        "creditmemo", {"CustomerRef": {"value": customer["Id"]}, "DueDatee": "x"}
    )
    assert fault_code(unknown) == "2010"
    memo = await credit_memo(qbo, customer["Id"], "40")
    sparse = await qbo.ok(
        "creditmemo",
        {"Id": memo["Id"], "SyncToken": memo["SyncToken"], "sparse": True, "PrivateNote": "n"},
    )
    assert (sparse["SyncToken"], sparse["PrivateNote"], sparse["TotalAmt"]) == (
        "1",
        "n",
        40.0,
    )
    void = await qbo.post("creditmemo", {"Id": memo["Id"], "SyncToken": "1"}, operation="void")
    assert void.status_code == 400
    assert fault_code(void) == "500"
    listed = await qbo.client.get(f"/admin/companies/{qbo.realm_id}/creditmemos")
    assert [m["Id"] for m in listed.json()] == [memo["Id"]]


async def test_a_zero_payment_applies_the_credit_to_an_invoice(qbo: Qbo) -> None:
    customer = await qbo.customer("Applied Ann")
    invoice = await qbo.invoice(customer["Id"], "100")
    memo = await credit_memo(qbo, customer["Id"], "30")
    payment = await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "30")
    assert (payment["TotalAmt"], payment["UnappliedAmt"]) == (0, 0)
    assert payment["Line"][1]["LinkedTxn"] == [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]

    invoice_now = await record(qbo, "invoices", invoice["Id"])
    memo_now = await record(qbo, "creditmemos", memo["Id"])
    assert Decimal(str(invoice_now["Balance"])) == Decimal("70")
    assert memo_now["RemainingCredit"] == memo_now["Balance"] == 0
    assert memo_now["SyncToken"] == "1"
    assert memo_now["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert Decimal(str((await record(qbo, "customers", customer["Id"]))["Balance"])) == 70
    assert await books(qbo) == []

    # An old SyncToken of the credit memo is stale now, as for an invoice a payment touched.
    stale = await qbo.post(
        "creditmemo", {"Id": memo["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}
    )
    assert fault_code(stale) == "5010"


async def test_money_and_credit_in_one_payment(qbo: Qbo) -> None:
    customer = await qbo.customer("Mixed Ann")
    invoice = await qbo.invoice(customer["Id"], "100")
    memo = await credit_memo(qbo, customer["Id"], "30")
    payment = await qbo.ok(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 80,
            "Line": [
                applied("100", "Invoice", invoice["Id"]),
                applied("30", "CreditMemo", memo["Id"]),
            ],
        },
    )
    assert payment["UnappliedAmt"] == 10.0  # 80 - (100 - 30)
    assert (await record(qbo, "invoices", invoice["Id"]))["Balance"] == 0
    assert await books(qbo) == []


async def test_over_applying_a_credit_is_refused(qbo: Qbo) -> None:
    customer = await qbo.customer("Over Ann")
    other = await qbo.customer("Other Bob")
    invoice = await qbo.invoice(customer["Id"], "100")
    memo = await credit_memo(qbo, customer["Id"], "30")
    foreign = await credit_memo(qbo, other["Id"], "30")

    def body(*lines: dict[str, object], total: float = 0) -> dict[str, object]:
        return {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": total, "Line": list(lines)}

    more_than_left = await qbo.post(
        "payment",
        body(applied("40", "Invoice", invoice["Id"]), applied("40", "CreditMemo", memo["Id"])),
    )
    assert fault_code(more_than_left) == "6000"
    assert "remaining credit of 30.00" in more_than_left.text
    credits_over_invoices = await qbo.post(
        "payment",
        body(applied("10", "Invoice", invoice["Id"]), applied("30", "CreditMemo", memo["Id"])),
    )
    assert fault_code(credits_over_invoices) == "6000"
    unbalanced = await qbo.post(
        "payment",
        body(applied("50", "Invoice", invoice["Id"]), applied("30", "CreditMemo", memo["Id"])),
    )
    assert fault_code(unbalanced) == "6000"  # 20 applied from a payment of 0
    of_another = await qbo.post(
        "payment",
        body(applied("30", "Invoice", invoice["Id"]), applied("30", "CreditMemo", foreign["Id"])),
    )
    assert fault_code(of_another) == "620"
    missing = await qbo.post(
        "payment",
        body(applied("30", "Invoice", invoice["Id"]), applied("30", "CreditMemo", "999")),
    )
    assert fault_code(missing) == "610"

    await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "20")
    second = await qbo.post(
        "payment",
        body(applied("20", "Invoice", invoice["Id"]), applied("20", "CreditMemo", memo["Id"])),
    )
    assert fault_code(second) == "6000"  # 10 left
    lowered = await qbo.post(
        "creditmemo",
        {
            "Id": memo["Id"],
            "SyncToken": (await record(qbo, "creditmemos", memo["Id"]))["SyncToken"],
            "sparse": True,
            "Line": [
                {
                    "Amount": 5,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault_code(lowered) == "6000"
    assert await books(qbo) == []


async def test_voiding_or_deleting_the_payment_gives_the_credit_back(qbo: Qbo) -> None:
    customer = await qbo.customer("Back Ann")
    invoice = await qbo.invoice(customer["Id"], "100")
    memo = await credit_memo(qbo, customer["Id"], "30")
    payment = await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "30")

    linked = await qbo.post("creditmemo", {"Id": memo["Id"], "SyncToken": "1"}, operation="delete")
    assert fault_code(linked) == "6000"  # applied: unlink first

    await qbo.ok(
        "payment",
        {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True},
        operation="update",
        include="void",
    )
    memo_now = await record(qbo, "creditmemos", memo["Id"])
    assert Decimal(str(memo_now["RemainingCredit"])) == Decimal("30")
    assert memo_now["LinkedTxn"] == []
    assert Decimal(str((await record(qbo, "invoices", invoice["Id"]))["Balance"])) == 100

    again = await apply_credit(qbo, customer["Id"], invoice["Id"], memo["Id"], "30")
    assert (await record(qbo, "creditmemos", memo["Id"]))["RemainingCredit"] == 0
    await qbo.ok(
        "payment", {"Id": again["Id"], "SyncToken": again["SyncToken"]}, operation="delete"
    )
    memo_now = await record(qbo, "creditmemos", memo["Id"])
    assert Decimal(str(memo_now["RemainingCredit"])) == Decimal("30")
    assert await books(qbo) == []

    deleted = await qbo.ok(
        "creditmemo", {"Id": memo["Id"], "SyncToken": memo_now["SyncToken"]}, operation="delete"
    )
    assert deleted == {"domain": "QBO", "status": "Deleted", "Id": memo["Id"]}
    gone = await qbo.get(f"creditmemo/{memo['Id']}")
    assert fault_code(gone) == "610"
