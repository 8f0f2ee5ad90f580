"""References to list records on writes, checked as QBO checks them: a reference to an Id
that does not exist is Fault 2500 naming the element, one to an inactive record is 610
(the batch recording's "Something you're trying to use has been made inactive"); the
references a write names are stored and read back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.test_xsd import assert_xsd_names
from tests.fixtures.qbo import Qbo, fault_code

OLD_INCOME = "10"  # seeded inactive Income account
SAVINGS = "14"
BARTER = "6"  # seeded inactive PaymentMethod
LEGACY = "3"  # seeded inactive Class
CLOSED = "3"  # seeded inactive Department


def fault(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["Fault"]["Error"][0]
    return response.status_code, error["code"], error.get("element")


def service_item(name: str, **fields: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": "8"}, **fields}


async def test_item_income_account_must_exist_and_be_active(qbo: Qbo) -> None:
    item = await qbo.ok("item", service_item("Advice"))
    assert item["IncomeAccountRef"] == {"value": "8", "name": "Consulting Income"}
    missing = await qbo.post("item", service_item("Nowhere", IncomeAccountRef={"value": "999"}))
    assert fault(missing) == (400, "2500", "IncomeAccountRef")
    inactive = await qbo.post("item", service_item("Stale", IncomeAccountRef={"value": OLD_INCOME}))
    assert fault(inactive)[:2] == (400, "610")
    moved = await qbo.post(
        "item",
        {"Id": item["Id"], "SyncToken": "0", "sparse": True, "IncomeAccountRef": {"value": "9"}},
    )
    assert moved.json()["Item"]["IncomeAccountRef"] == {"value": "9", "name": "Product Sales"}
    refused = await qbo.post(
        "item",
        {
            "Id": item["Id"],
            "SyncToken": "1",
            "sparse": True,
            "IncomeAccountRef": {"value": OLD_INCOME},
        },
    )
    assert fault_code(refused) == "610"
    read = (await qbo.get(f"item/{item['Id']}")).json()["Item"]
    assert (read["SyncToken"], read["IncomeAccountRef"]["value"]) == ("1", "9")


async def test_item_expense_account_is_checked_when_given(qbo: Qbo) -> None:
    item = await qbo.ok(
        "item", service_item("Paper", Type="NonInventory", ExpenseAccountRef={"value": "12"})
    )
    assert item["ExpenseAccountRef"] == {"value": "12", "name": "Supplies"}
    assert (await qbo.get(f"item/{item['Id']}")).json()["Item"]["ExpenseAccountRef"][
        "value"
    ] == "12"
    missing = await qbo.post("item", service_item("Ink", ExpenseAccountRef={"value": "404"}))
    assert fault(missing) == (400, "2500", "ExpenseAccountRef")
    inactive = await qbo.post(
        "item", service_item("Toner", ExpenseAccountRef={"value": OLD_INCOME})
    )
    assert fault_code(inactive) == "610"
    plain = await qbo.ok("item", service_item("Time"))
    assert "ExpenseAccountRef" not in plain


async def test_item_account_made_inactive_after_the_fact(qbo: Qbo) -> None:
    await qbo.client.post(f"/admin/companies/{qbo.realm_id}/accounts/11/deactivate")
    refused = await qbo.post("item", service_item("Desk", ExpenseAccountRef={"value": "11"}))
    assert fault_code(refused) == "610"


@pytest.fixture
async def open_invoice(qbo: Qbo) -> dict[str, Any]:
    customer = await qbo.customer("Payer")
    return await qbo.invoice(customer["Id"], "100")


def payment(invoice: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "CustomerRef": invoice["CustomerRef"],
        "TotalAmt": 40,
        "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        **fields,
    }


async def test_payment_stores_its_method_and_deposit_account(
    qbo: Qbo, open_invoice: dict[str, Any]
) -> None:
    chosen = await qbo.ok(
        "payment",
        payment(
            open_invoice,
            PaymentMethodRef={"value": "3"},
            DepositToAccountRef={"value": SAVINGS},
        ),
    )
    assert chosen["PaymentMethodRef"] == {"value": "3", "name": "Visa"}
    assert chosen["DepositToAccountRef"] == {"value": SAVINGS}
    read = await qbo.get(f"payment/{chosen['Id']}")
    assert read.json()["Payment"]["PaymentMethodRef"]["value"] == "3"
    assert read.json()["Payment"]["DepositToAccountRef"]["value"] == SAVINGS
    assert_xsd_names(read.json())
    default = await qbo.ok("payment", payment(open_invoice))
    assert default["DepositToAccountRef"] == {"value": "4"}  # Undeposited Funds
    assert "PaymentMethodRef" not in default
    found = await qbo.query("SELECT * FROM Payment WHERE DepositToAccountRef = '14'")
    assert [p["Id"] for p in found.json()["QueryResponse"]["Payment"]] == [chosen["Id"]]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"PaymentMethodRef": {"value": "99"}}, ("2500", "PaymentMethodRef")),
        ({"PaymentMethodRef": {"value": BARTER}}, ("610", "")),
        ({"PaymentMethodRef": {"value": ""}}, ("2020", "PaymentMethodRef")),
        ({"DepositToAccountRef": {"value": "99"}}, ("2500", "DepositToAccountRef")),
        ({"DepositToAccountRef": {"value": OLD_INCOME}}, ("610", "")),
    ],
)
async def test_payment_refuses_bad_references(
    qbo: Qbo, open_invoice: dict[str, Any], fields: dict[str, Any], expected: tuple[str, str]
) -> None:
    response = await qbo.post("payment", payment(open_invoice, **fields))
    assert fault(response) == (400, *expected)
    count = await qbo.query("SELECT COUNT(*) FROM Payment")
    assert count.json()["QueryResponse"] == {"totalCount": 0}
    invoice = (await qbo.get(f"invoice/{open_invoice['Id']}")).json()["Invoice"]
    assert invoice["Balance"] == 100


async def test_payment_method_made_inactive_is_refused_on_update(
    qbo: Qbo, open_invoice: dict[str, Any]
) -> None:
    paid = await qbo.ok("payment", payment(open_invoice, PaymentMethodRef={"value": "2"}))
    off = await qbo.client.post(f"/admin/companies/{qbo.realm_id}/paymentmethods/2/deactivate")
    assert off.json()["Active"] is False
    again = await qbo.post("payment", payment(open_invoice, PaymentMethodRef={"value": "2"}))
    assert fault_code(again) == "610"
    # A sparse update keeps the stored reference, which QBO checks again.
    note = await qbo.post(
        "payment", {"Id": paid["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"}
    )
    assert fault_code(note) == "610"
    switched = await qbo.post(
        "payment",
        {"Id": paid["Id"], "SyncToken": "0", "sparse": True, "PaymentMethodRef": {"value": "1"}},
    )
    assert switched.json()["Payment"]["PaymentMethodRef"] == {"value": "1", "name": "Cash"}


def invoice_body(customer_id: str, detail: dict[str, Any] | None = None, **fields: Any) -> Any:
    return {
        "CustomerRef": {"value": customer_id},
        "TxnDate": "2026-03-01",
        "Line": [
            {
                "Amount": 80,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, **(detail or {})},
            }
        ],
        **fields,
    }


async def test_invoice_stores_class_department_and_term(qbo: Qbo) -> None:
    customer = await qbo.customer("Tracked")
    invoice = await qbo.ok(
        "invoice",
        invoice_body(
            customer["Id"],
            {"ClassRef": {"value": "2"}},
            ClassRef={"value": "1"},
            DepartmentRef={"value": "2"},
            SalesTermRef={"value": "2"},
        ),
    )
    assert invoice["ClassRef"] == {"value": "1", "name": "Retail"}
    assert invoice["DepartmentRef"] == {"value": "2", "name": "South"}
    assert invoice["SalesTermRef"] == {"value": "2"}  # no name, as QBO's recordings show
    assert invoice["DueDate"] == "2026-03-16"  # Net 15 from TxnDate
    detail = invoice["Line"][0]["SalesItemLineDetail"]
    assert detail["ClassRef"] == {"value": "2", "name": "Wholesale"}
    read = await qbo.get(f"invoice/{invoice['Id']}")
    assert read.json()["Invoice"]["ClassRef"]["value"] == "1"
    assert read.json()["Invoice"]["DepartmentRef"]["value"] == "2"
    assert_xsd_names(read.json())
    due = await qbo.ok(
        "invoice",
        invoice_body(customer["Id"], SalesTermRef={"value": "1"}, DueDate="2026-04-01"),
    )
    assert due["DueDate"] == "2026-04-01"  # a DueDate sent wins over the term
    on_receipt = await qbo.ok("invoice", invoice_body(customer["Id"], SalesTermRef={"value": "1"}))
    assert on_receipt["DueDate"] == "2026-03-01"
    plain = await qbo.ok("invoice", invoice_body(customer["Id"]))
    assert plain["DueDate"] == "2026-03-31"  # no term: 30 days
    assert not {"ClassRef", "DepartmentRef", "SalesTermRef"} & set(plain)


@pytest.mark.parametrize(
    ("detail", "fields", "expected"),
    [
        (None, {"ClassRef": {"value": LEGACY}}, ("610", "")),
        (None, {"ClassRef": {"value": "77"}}, ("2500", "ClassRef")),
        (None, {"DepartmentRef": {"value": CLOSED}}, ("610", "")),
        (None, {"DepartmentRef": {"value": "77"}}, ("2500", "DepartmentRef")),
        (None, {"SalesTermRef": {"value": "77"}}, ("2500", "SalesTermRef")),
        ({"ClassRef": {"value": LEGACY}}, {}, ("610", "")),
        ({"ClassRef": {"value": "77"}}, {}, ("2500", "Line.SalesItemLineDetail.ClassRef")),
    ],
)
async def test_invoice_refuses_bad_references(
    qbo: Qbo, detail: dict[str, Any] | None, fields: dict[str, Any], expected: tuple[str, str]
) -> None:
    customer = await qbo.customer("Refused")
    response = await qbo.post("invoice", invoice_body(customer["Id"], detail, **fields))
    assert fault(response) == (400, *expected)
    count = await qbo.query("SELECT COUNT(*) FROM Invoice")
    assert count.json()["QueryResponse"] == {"totalCount": 0}


async def test_invoice_term_made_inactive_is_refused(qbo: Qbo) -> None:
    customer = await qbo.customer("Termed")
    await qbo.client.post(f"/admin/companies/{qbo.realm_id}/terms/4/deactivate")
    response = await qbo.post("invoice", invoice_body(customer["Id"], SalesTermRef={"value": "4"}))
    assert fault_code(response) == "610"
    assert [
        t["Name"] for t in (await qbo.query("SELECT * FROM Term")).json()["QueryResponse"]["Term"]
    ] == [
        "Due on receipt",
        "Net 15",
        "Net 30",
    ]


async def test_discount_line_account_is_checked(qbo: Qbo) -> None:
    customer = await qbo.customer("Discounted")
    body = invoice_body(customer["Id"])
    discount = {
        "Amount": 5,
        "DetailType": "DiscountLineDetail",
        "DiscountLineDetail": {"PercentBased": False, "DiscountAccountRef": {"value": "13"}},
    }
    invoice = await qbo.ok("invoice", {**body, "Line": [*body["Line"], discount]})
    stored = invoice["Line"][1]["DiscountLineDetail"]["DiscountAccountRef"]
    assert stored == {"value": "13", "name": "Discounts given"}
    assert invoice["TotalAmt"] == 75
    discount["DiscountLineDetail"] = {
        "PercentBased": False,
        "DiscountAccountRef": {"value": OLD_INCOME},
    }
    refused = await qbo.post("invoice", {**body, "Line": [*body["Line"], discount]})
    assert fault_code(refused) == "610"


async def test_reference_fault_stays_inside_its_batch_item(qbo: Qbo) -> None:
    customer = await qbo.customer("Batched")
    response = await qbo.post(
        "batch",
        {
            "BatchItemRequest": [
                {
                    "bId": "good",
                    "operation": "create",
                    "Invoice": invoice_body(customer["Id"], ClassRef={"value": "1"}),
                },
                {
                    "bId": "bad",
                    "operation": "create",
                    "Invoice": invoice_body(customer["Id"], ClassRef={"value": LEGACY}),
                },
            ]
        },
    )
    assert response.status_code == 200
    good, bad = response.json()["BatchItemResponse"]
    assert good["Invoice"]["ClassRef"]["name"] == "Retail"
    assert bad["Fault"]["Error"][0]["code"] == "610"
