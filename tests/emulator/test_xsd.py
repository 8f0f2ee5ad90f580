"""Every object the emulator returns uses only element names Intuit's XSD defines for its
type (inherited ones included), and the 2010 property lists agree with the XSD."""

from __future__ import annotations

from typing import Any

from app.emulator.schema import KNOWN_PROPERTIES
from tests.fixtures.qbo import Qbo, emulator_company
from tests.support.xsd_names import schema, unknown_names


def assert_xsd_names(payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if key == "time":
            continue
        if key == "QueryResponse":
            for entity, objects in value.items():
                if isinstance(objects, list):
                    assert not unknown_names(objects, entity), unknown_names(objects, entity)
            continue
        assert key in schema().types, f"{key} is not an XSD type"
        assert not unknown_names(value, key), unknown_names(value, key)


async def test_property_lists_are_the_xsd_names() -> None:
    for entity, names in KNOWN_PROPERTIES.items():
        children, attributes, _ = schema().names(entity)
        assert names == set(children) | attributes


async def test_written_objects_use_only_xsd_names(qbo: Qbo) -> None:
    item = await qbo.ok(
        "item",
        {"Name": "Garden Rocks", "Type": "Service", "IncomeAccountRef": {"value": "2"}},
    )
    inventory = await qbo.ok(
        "item",
        {
            "Name": "Fountain",
            "Type": "Inventory",
            "IncomeAccountRef": {"value": "2"},
            "ExpenseAccountRef": {"value": "3"},
            "AssetAccountRef": {"value": "5"},
            "QtyOnHand": 4,
            "InvStartDate": "2026-01-01",
            "UnitPrice": 275,
        },
    )
    parent = await qbo.customer(
        "Parent Co",
        GivenName="Ann",
        FamilyName="Lee",
        CompanyName="Parent Co",
        PrimaryEmailAddr={"Address": "ann@example.com"},
        PrimaryPhone={"FreeFormNumber": "(650) 555-0100"},
        BillAddr={"Line1": "1 Main St", "City": "Palo Alto", "PostalCode": "94301"},
    )
    await qbo.customer("Job One", ParentRef={"value": parent["Id"]}, Job=True)
    invoice = await qbo.ok(
        "invoice",
        {
            "CustomerRef": {"value": parent["Id"]},
            "Line": [
                {
                    "Amount": 337.5,
                    "Description": "Design",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": 4.5,
                        "UnitPrice": 75,
                        "TaxCodeRef": {"value": "TAX"},
                    },
                },
                {
                    "Amount": 275,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": inventory["Id"]}},
                },
                {"DetailType": "DescriptionOnly", "Description": "Thanks"},
                {
                    "Amount": 10,
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {"PercentBased": False},
                },
            ],
            "CustomerMemo": {"value": "Thank you"},
            "PrivateNote": "note",
        },
    )
    payment = await qbo.ok(
        "payment",
        {
            "CustomerRef": {"value": parent["Id"]},
            "TotalAmt": 100,
            "Line": [
                {"Amount": 100, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
            ],
        },
    )
    answers = [
        await qbo.get(f"invoice/{invoice['Id']}"),
        await qbo.get(f"payment/{payment['Id']}"),
        await qbo.get(f"customer/{parent['Id']}"),
        await qbo.get(f"item/{inventory['Id']}"),
        await qbo.get("account/1"),
        await qbo.get("vendor/1"),
        await qbo.get("employee/1"),
        await qbo.get(f"companyinfo/{qbo.realm_id}"),
        await qbo.get("preferences"),
        await qbo.query("SELECT * FROM Customer"),
        await qbo.query("SELECT * FROM Invoice"),
        await qbo.post(
            "payment",
            {"Id": payment["Id"], "SyncToken": "0", "sparse": True},
            operation="update",
            include="void",
        ),
        await qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "2"}, operation="void"),
        await qbo.post("invoice", {"Id": invoice["Id"], "SyncToken": "3"}, operation="delete"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert_xsd_names(answer.json())


async def test_non_us_objects_use_only_xsd_names() -> None:
    async with emulator_company(country="GB") as qbo:
        customer = await qbo.customer("Brit Ltd")
        invoice = await qbo.post(
            "invoice",
            {
                "CustomerRef": {"value": customer["Id"]},
                "Line": [
                    {
                        "Amount": 100,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": "1"},
                            "TaxCodeRef": {"value": "1"},
                        },
                    }
                ],
            },
        )
        assert invoice.status_code == 200, invoice.text
        assert invoice.json()["Invoice"]["TotalAmt"] == 120
        assert_xsd_names(invoice.json())
        assert_xsd_names((await qbo.get("taxcode/1")).json())
