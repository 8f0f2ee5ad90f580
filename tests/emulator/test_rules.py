"""Each QBO rule of the Accounting API, answered with QBO's Fault code and HTTP status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.emulator.seed import SEEDED_EMPLOYEE, SEEDED_VENDOR
from tests.fixtures.qbo import Qbo, emulator_company, fault_code

SALES_LINE = {
    "Amount": 100,
    "DetailType": "SalesItemLineDetail",
    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
}


@pytest.mark.parametrize(
    "taken",
    ["Jane Doe", "  jane doe ", SEEDED_VENDOR, " ".join(SEEDED_EMPLOYEE)],
    ids=["customer", "case-and-space", "vendor", "employee"],
)
async def test_display_name_is_unique_across_customers_vendors_employees(
    qbo: Qbo, taken: str
) -> None:
    await qbo.customer("Jane Doe")
    response = await qbo.post("customer", {"DisplayName": taken})
    assert (response.status_code, fault_code(response)) == (400, "6240")


async def test_inactive_customer_still_holds_its_name(qbo: Qbo) -> None:
    customer = await qbo.customer("Gone Ltd")
    await qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    response = await qbo.post("customer", {"DisplayName": "Gone Ltd"})
    assert fault_code(response) == "6240"


async def test_renaming_onto_another_name_is_refused(qbo: Qbo) -> None:
    await qbo.customer("First")
    second = await qbo.customer("Second")
    body = {"Id": second["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "first"}
    assert fault_code(await qbo.post("customer", body)) == "6240"


@pytest.mark.parametrize("bad", ["Acme: East", "Tab\there", "New\nline"])
async def test_names_refuse_colon_tab_newline(qbo: Qbo, bad: str) -> None:
    response = await qbo.post("customer", {"DisplayName": bad})
    assert (response.status_code, fault_code(response)) == (400, "2040")
    given = await qbo.post("customer", {"DisplayName": "Fine", "GivenName": bad})
    assert fault_code(given) == "2040"


@pytest.mark.parametrize(
    ("field", "limit"),
    [("DisplayName", 500), ("GivenName", 100), ("Title", 16), ("Notes", 2000)],
)
async def test_string_lengths(qbo: Qbo, field: str, limit: int) -> None:
    body = {"DisplayName": "Someone", field: "x" * (limit + 1)}
    response = await qbo.post("customer", body)
    assert (response.status_code, fault_code(response)) == (400, "2050")
    body[field] = "y" * limit
    assert (await qbo.post("customer", body)).status_code == 200


async def test_item_name_rules(qbo: Qbo) -> None:
    item = {"Name": "Hours", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    assert (await qbo.post("item", item)).status_code == 200
    assert fault_code(await qbo.post("item", item)) == "6240"
    # Names are compared without case, as for customers.
    assert fault_code(await qbo.post("item", {**item, "Name": " HOURS "})) == "6240"
    assert fault_code(await qbo.post("item", {**item, "Name": "a:b"})) == "2040"
    assert fault_code(await qbo.post("item", {**item, "Name": "n" * 101})) == "2050"
    assert fault_code(await qbo.post("item", {**item, "Name": "X", "Type": "Gizmo"})) == "2170"
    no_account = {"Name": "Y", "Type": "Service"}
    assert fault_code(await qbo.post("item", no_account)) == "2020"


async def test_stale_sync_token(qbo: Qbo) -> None:
    customer = await qbo.customer("Versioned")
    first = {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "one"}
    assert (await qbo.post("customer", first)).status_code == 200
    response = await qbo.post("customer", {**first, "Notes": "two"})
    assert (response.status_code, fault_code(response)) == (400, "5010")


async def test_update_of_missing_record_is_object_not_found(qbo: Qbo) -> None:
    response = await qbo.post("invoice", {"Id": "999", "SyncToken": "0", "sparse": True})
    assert (response.status_code, fault_code(response)) == (400, "610")
    read = await qbo.get("customer/999")
    assert (read.status_code, fault_code(read)) == (400, "610")


async def test_references_to_missing_objects_are_invalid(qbo: Qbo) -> None:
    customer = await qbo.customer("Ref Test")
    no_customer = {"CustomerRef": {"value": "999"}, "Line": [SALES_LINE]}
    assert fault_code(await qbo.post("invoice", no_customer)) == "2500"
    line = {**SALES_LINE, "SalesItemLineDetail": {"ItemRef": {"value": "999"}}}
    no_item = {"CustomerRef": {"value": customer["Id"]}, "Line": [line]}
    assert fault_code(await qbo.post("invoice", no_item)) == "2500"
    payment = {
        "CustomerRef": {"value": customer["Id"]},
        "TotalAmt": 5,
        "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": "999", "TxnType": "Invoice"}]}],
    }
    assert fault_code(await qbo.post("payment", payment)) == "610"


async def test_references_to_inactive_objects_are_object_not_found(qbo: Qbo) -> None:
    customer = await qbo.customer("Sleeping")
    item = await qbo.ok(
        "item", {"Name": "Old", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )
    await qbo.client.post(f"/admin/companies/{qbo.realm_id}/items/{item['Id']}/deactivate")
    line = {**SALES_LINE, "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}}}
    response = await qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    assert (response.status_code, fault_code(response)) == (400, "610")
    await qbo.client.post(f"/admin/companies/{qbo.realm_id}/customers/{customer['Id']}/deactivate")
    response = await qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [SALES_LINE]}
    )
    assert fault_code(response) == "610"


async def test_invoice_needs_customer_and_lines(qbo: Qbo) -> None:
    customer = await qbo.customer("Needs")
    no_customer = await qbo.post("invoice", {"Line": [SALES_LINE]})
    assert (no_customer.status_code, fault_code(no_customer)) == (400, "2020")
    assert no_customer.json()["Fault"]["Error"][0]["element"] == "CustomerRef"
    lines: list[object] | None
    for lines in ([], None):
        body: dict[str, object] = {"CustomerRef": {"value": customer["Id"]}, "Line": lines}
        assert fault_code(await qbo.post("invoice", body)) == "2020"


async def test_line_amount_must_be_qty_times_unit_price(qbo: Qbo) -> None:
    customer = await qbo.customer("Math")
    detail = {"ItemRef": {"value": "1"}, "Qty": 3, "UnitPrice": 33.33}
    wrong = {**SALES_LINE, "Amount": 100, "SalesItemLineDetail": detail}
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [wrong]}
    response = await qbo.post("invoice", body)
    assert (response.status_code, fault_code(response)) == (400, "6070")
    body["Line"] = [{**wrong, "Amount": 99.99}]
    invoice = await qbo.ok("invoice", body)
    assert invoice["TotalAmt"] == pytest.approx(99.99)


async def test_duplicate_doc_number_with_custom_numbering() -> None:
    async with emulator_company(custom_txn_numbers=True) as qbo:
        customer = await qbo.customer("Numbers")
        body = {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [SALES_LINE],
            "DocNumber": "INV-1",
        }
        assert (await qbo.post("invoice", body)).status_code == 200
        response = await qbo.post("invoice", body)
        assert (response.status_code, fault_code(response)) == (400, "6140")
        assert "DocNumber=INV-1" in response.json()["Fault"]["Error"][0]["Detail"]
        allowed = await qbo.post("invoice", body, include="allowduplicatedocnum")
        assert allowed.status_code == 200
        unnumbered = await qbo.ok("invoice", {**body, "DocNumber": None})
        assert "DocNumber" not in unnumbered


async def test_auto_numbering_without_custom_numbers(qbo: Qbo) -> None:
    customer = await qbo.customer("Auto")
    first = await qbo.invoice(customer["Id"], "10")
    second = await qbo.invoice(customer["Id"], "10")
    assert int(second["DocNumber"]) == int(first["DocNumber"]) + 1


async def test_payment_for_another_customers_invoice(qbo: Qbo) -> None:
    owner = await qbo.customer("Owner")
    other = await qbo.customer("Other")
    invoice = await qbo.invoice(owner["Id"], "50")
    body = {
        "CustomerRef": {"value": other["Id"]},
        "TotalAmt": 50,
        "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    response = await qbo.post("payment", body)
    assert (response.status_code, fault_code(response)) == (400, "620")


async def test_unknown_property(qbo: Qbo) -> None:
    for entity in ("customer", "item", "invoice", "payment"):
        response = await qbo.post(entity, {"DisplayName": "x", "Nonsense": 1})
        assert (response.status_code, fault_code(response)) == (400, "2010")
    wrapped = await qbo.post("customer", {"Customer": {"DisplayName": "Wrapped"}})
    assert fault_code(wrapped) == "2010"
    garbage = await qbo.client.post(
        f"{qbo.base}/customer", content=b"{not json", headers=qbo.headers
    )
    assert (garbage.status_code, fault_code(garbage)) == (400, "2010")


async def test_fault_inside_http_200_for_batch_items(qbo: Qbo) -> None:
    await qbo.customer("Taken")
    body = {
        "BatchItemRequest": [
            {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Taken"}},
            {"bId": "b", "operation": "create", "Customer": {"DisplayName": "Free"}},
            {"bId": "c", "Query": "SELECT COUNT(*) FROM Customer"},
        ]
    }
    response = await qbo.post("batch", body)
    assert response.status_code == 200
    by_bid = {i["bId"]: i for i in response.json()["BatchItemResponse"]}
    assert by_bid["a"]["Fault"]["Error"][0]["code"] == "6240"
    assert by_bid["b"]["Customer"]["DisplayName"] == "Free"
    assert by_bid["c"]["QueryResponse"] == {"totalCount": 2}


async def test_batch_is_limited_to_30_operations(qbo: Qbo) -> None:
    items = [{"bId": str(n), "Query": "SELECT * FROM Item"} for n in range(31)]
    response = await qbo.post("batch", {"BatchItemRequest": items})
    assert (response.status_code, fault_code(response)) == (400, "1040")


async def test_ids_sync_tokens_strings_amounts_decimals(qbo: Qbo) -> None:
    customer = await qbo.customer("Types")
    response = await qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": 337.50,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 4.5, "UnitPrice": 75},
                }
            ],
        },
        minorversion="75",
    )
    assert response.status_code == 200
    assert '"Amount":337.50' in response.text
    assert '"UnitPrice":75,' in response.text
    invoice = response.json(parse_float=Decimal)["Invoice"]
    assert isinstance(invoice["Id"], str)
    assert isinstance(invoice["SyncToken"], str)
    assert invoice["TotalAmt"] == Decimal("337.50") == invoice["Balance"]
    created = invoice["MetaData"]["CreateTime"]
    assert created.endswith("-07:00")
    assert "T" in created
    assert response.json()["time"].count(".") == 1
    assert "intuit-tid" in response.headers  # `Intuit-Tid`, as recorded


async def test_payment_reduces_balance_and_bumps_invoice(qbo: Qbo) -> None:
    customer = await qbo.customer("Payer")
    invoice = await qbo.invoice(customer["Id"], "80", "20")
    assert invoice["TotalAmt"] == 100
    payment = await qbo.ok(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 70,
            "Line": [{"Amount": 60, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert payment["UnappliedAmt"] == 10
    after = (await qbo.get(f"invoice/{invoice['Id']}")).json()["Invoice"]
    assert (after["Balance"], after["SyncToken"]) == (40, "1")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert (await qbo.get(f"customer/{customer['Id']}")).json()["Customer"]["Balance"] == 40
    stale = await qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True})
    assert fault_code(stale) == "5010"
    too_much = await qbo.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert fault_code(too_much) == "6000"
    voided = await qbo.post(
        "payment",
        {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
        operation="update",
        include="void",
    )
    assert voided.status_code == 200
    assert voided.json()["Payment"]["TotalAmt"] == 0
    reopened = (await qbo.get(f"invoice/{invoice['Id']}")).json()["Invoice"]
    assert reopened["Balance"] == 100


async def test_payment_is_not_voided_with_operation_void(qbo: Qbo) -> None:
    customer = await qbo.customer("Voider")
    payment = await qbo.ok("payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 5})
    response = await qbo.post("payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="void")
    assert (response.status_code, fault_code(response)) == (400, "500")


async def test_linked_invoice_cannot_be_deleted(qbo: Qbo) -> None:
    customer = await qbo.customer("Linked")
    invoice = await qbo.invoice(customer["Id"], "10")
    await qbo.ok(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    response = await qbo.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="delete"
    )
    assert fault_code(response) == "6000"


async def test_a_paid_invoice_is_voided_only_once_its_payment_is_gone(qbo: Qbo) -> None:
    """Invoice reference: linked transactions must be unlinked before a delete; a void of
    a paid invoice is refused too (6000), and both go through once the payment is deleted
    or voided (its lines then apply nothing)."""
    customer = await qbo.customer("Paid")
    invoice = await qbo.invoice(customer["Id"], "10")

    def paying(invoice_id: str) -> dict[str, Any]:
        link = [{"TxnId": invoice_id, "TxnType": "Invoice"}]
        return {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": link}],
        }

    payment = await qbo.ok("payment", paying(invoice["Id"]))
    refused = await qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="void")
    assert (refused.status_code, fault_code(refused)) == (400, "6000")
    assert "linked to payments" in refused.json()["Fault"]["Error"][0]["Detail"]

    await qbo.ok("payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete")
    voided = await qbo.ok("invoice", {"Id": invoice["Id"], "SyncToken": "2"}, operation="void")
    assert voided["TotalAmt"] == 0
    assert voided["PrivateNote"].startswith("Voided")

    other = await qbo.invoice(customer["Id"], "10")
    again = await qbo.ok("payment", paying(other["Id"]))
    await qbo.ok(
        "payment",
        {"Id": again["Id"], "SyncToken": "0", "sparse": True},
        operation="update",
        include="void",
    )
    deleted = await qbo.ok("invoice", {"Id": other["Id"], "SyncToken": "2"}, operation="delete")
    assert deleted["status"] == "Deleted"


async def test_full_update_clears_omitted_fields_sparse_keeps_them(qbo: Qbo) -> None:
    customer = await qbo.customer("Full", Notes="keep me", CompanyName="Full Inc")
    sparse = await qbo.ok(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "new"}
    )
    assert sparse["CompanyName"] == "Full Inc"
    full = await qbo.ok("customer", {"Id": customer["Id"], "SyncToken": "1", "DisplayName": "Full"})
    assert "CompanyName" not in full
    assert "Notes" not in full


async def test_non_us_invoice_needs_a_tax_code() -> None:
    async with emulator_company(country="CA") as qbo:
        customer = await qbo.customer("Maple")
        response = await qbo.post(
            "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [SALES_LINE]}
        )
        assert fault_code(response) == "6000"
        assert "GST/HST" in response.json()["Fault"]["Error"][0]["Detail"]


async def test_us_line_tax_code_must_be_tax_or_non(qbo: Qbo) -> None:
    customer = await qbo.customer("Taxed")
    line = {
        **SALES_LINE,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": "5"}},
    }
    response = await qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    assert fault_code(response) == "6100"
