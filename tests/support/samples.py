"""Realistic validated event data and company contexts for the payload tests."""

from __future__ import annotations

from typing import Any

from app.events.schemas import CustomerData, InvoiceData, ItemData, PaymentData
from app.sync.payloads import CompanyContext, NameLists, name_keys

US = CompanyContext.from_connection_data(
    "US",
    {"CompanyName": "Acme", "Country": "US"},
    {
        "SalesFormsPrefs": {"CustomTxnNumbers": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
    },
)
US_CUSTOM_NUMBERS = CompanyContext.from_connection_data(
    "US", {}, {"SalesFormsPrefs": {"CustomTxnNumbers": True}}
)
GB = CompanyContext.from_connection_data(
    "GB",
    {"CompanyInfo": {"Country": "GB"}},
    {
        "Preferences": {
            "SalesFormsPrefs": {"CustomTxnNumbers": True},
            "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "GBP"}},
        }
    },
    default_tax_code_id="1",
)


def customer(**overrides: Any) -> CustomerData:
    data: dict[str, Any] = {
        "external_id": "crm-1001",
        "display_name": "O'Brien & Sons \\ Plumbing",
        "company_name": "O'Brien & Sons Ltd",
        "given_name": "Siobhan",
        "family_name": "O'Brien",
        "email": "siobhan@obrien.example",
        "phone": "+1 (650) 555-0100",
        "billing_address": {
            "line1": "12 Harbour Road",
            "line2": "Unit 4",
            "city": "Half Moon Bay",
            "region": "CA",
            "postal_code": "94019",
            "country": "USA",
        },
    }
    return CustomerData.model_validate({**data, **overrides})


def item(**overrides: Any) -> ItemData:
    data: dict[str, Any] = {
        "external_id": "sku-consult",
        "name": "Consulting hour",
        "type": "service",
        "unit_price": "99.99",
        "description": "Senior consultant, per hour",
        "sku": "CONS-H",
    }
    return ItemData.model_validate({**data, **overrides})


def invoice(**overrides: Any) -> InvoiceData:
    data: dict[str, Any] = {
        "external_id": "inv-2026-0042",
        "customer_external_id": "crm-1001",
        "number": "2026-0042",
        "txn_date": "2026-03-01",
        "due_date": "2026-03-31",
        "memo": "Thank you for your business",
        "lines": [
            {
                "item_external_id": "sku-consult",
                "description": "March retainer",
                "quantity": "12",
                "unit_price": "99.99",
                "amount": "1199.88",
                "tax_code": "TAX",
                "service_date": "2026-03-01",
            },
            {
                "item_external_id": "sku-travel",
                "quantity": "3",
                "unit_price": "0.1",
                "amount": "0.30",
            },
        ],
    }
    return InvoiceData.model_validate({**data, **overrides})


def payment(**overrides: Any) -> PaymentData:
    data: dict[str, Any] = {
        "external_id": "pay-77",
        "customer_external_id": "crm-1001",
        "date": "2026-03-15",
        "total": "1200.18",
        "method": "Check",
        "reference": "CHK-5531",
        "applied_to": [{"invoice_external_id": "inv-2026-0042", "amount": "1200.18"}],
    }
    return PaymentData.model_validate({**data, **overrides})


ITEM_REFS = {"sku-consult": "19", "sku-travel": "20"}
INVOICE_REFS = {"inv-2026-0042": "130"}
INCOME_ACCOUNT = {"value": "79", "name": "Sales of Product Income"}


# A company whose Preferences track classes per transaction and per line, and departments,
# and whose sales forms carry two custom fields in use (a third is named but off).
SALES_CUSTOM_FIELDS = [
    {
        "CustomField": [
            {
                "Name": "SalesFormsPrefs.UseSalesCustom1",
                "Type": "BooleanType",
                "BooleanValue": True,
            },
            {
                "Name": "SalesFormsPrefs.UseSalesCustom2",
                "Type": "BooleanType",
                "BooleanValue": True,
            },
            {
                "Name": "SalesFormsPrefs.UseSalesCustom3",
                "Type": "BooleanType",
                "BooleanValue": False,
            },
        ]
    },
    {
        "CustomField": [
            {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "PO"},
            {
                "Name": "SalesFormsPrefs.SalesCustomName2",
                "Type": "StringType",
                "StringValue": "Crew #",
            },
            {
                "Name": "SalesFormsPrefs.SalesCustomName3",
                "Type": "StringType",
                "StringValue": "Unused",
            },
        ]
    },
]
US_TRACKING = CompanyContext.from_connection_data(
    "US",
    {"Country": "US"},
    {
        "SalesFormsPrefs": {"CustomTxnNumbers": True, "CustomField": SALES_CUSTOM_FIELDS},
        "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}},
        "AccountingInfoPrefs": {
            "ClassTrackingPerTxn": True,
            "ClassTrackingPerTxnLine": True,
            "TrackDepartments": True,
        },
    },
)
NAMES = NameLists(
    terms=name_keys(
        [{"Id": "3", "Name": "Net 30"}, {"Id": "4", "Name": "Net 60", "Active": False}]
    ),
    classes=name_keys(
        [
            {"Id": "1", "Name": "Retail", "FullyQualifiedName": "Retail"},
            {"Id": "2", "Name": "Online", "FullyQualifiedName": "Retail:Online"},
        ]
    ),
    departments=name_keys([{"Id": "5", "Name": "North"}]),
)


def full_invoice(**overrides: Any) -> InvoiceData:
    """An invoice with every field a billing system sends."""
    data: dict[str, Any] = {
        **invoice().model_dump(mode="json", exclude_none=True),
        "ship_date": "2026-03-02",
        "ship_to": {"line1": "1 Dock Street", "city": "Oakland", "region": "CA"},
        "terms": "net 30",
        "email": {
            "to": "ap@obrien.example",
            "cc": "boss@obrien.example",
            "bcc": "archive@acme.example",
        },
        "class": "Retail",
        "department": "North",
        "custom_fields": {"PO": "PO-981", "crew #": "7"},
        "private_note": "Agreed with Siobhan on the phone",
    }
    data["lines"] = [
        {**data["lines"][0], "class": "Retail:Online"},
        {"kind": "description", "description": "Travel below"},
        data["lines"][1],
        {"kind": "subtotal", "description": "Subtotal"},
    ]
    return InvoiceData.model_validate({**data, **overrides})
