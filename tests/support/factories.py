"""Builders of valid event bodies; tests override what they care about."""

from __future__ import annotations

import secrets
from typing import Any

REALM = "9130357766412345"
OCCURRED = "2026-11-25T10:00:00Z"


def _envelope(type_: str, data: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"evt-{secrets.token_hex(6)}",
        "realm_id": REALM,
        "type": type_,
        "occurred_at": OCCURRED,
        "data": data,
    }
    body.update(overrides)
    return body


def customer_event(external_id: str = "cust-1", **overrides: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "display_name": f"Customer {external_id}",
        "company_name": "Acme Ltd",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "billing_address": {
            "line1": "1 High Street",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
        "currency": "USD",
    }
    data.update(overrides.pop("data", {}))
    return _envelope("customer.upserted", data, **overrides)


def item_event(external_id: str = "item-1", **overrides: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "name": f"Consulting {external_id}",
        "type": "service",
        "unit_price": "150.00",
        "description": "An hour of consulting",
        "sku": "CONS-1",
    }
    data.update(overrides.pop("data", {}))
    return _envelope("item.upserted", data, **overrides)


def invoice_event(
    external_id: str = "inv-1", customer: str = "cust-1", **overrides: Any
) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "customer_external_id": customer,
        "number": "INV-0001",
        "txn_date": "2026-11-25",
        "due_date": "2026-12-25",
        "lines": [
            {
                "item_external_id": "item-1",
                "description": "Consulting",
                "quantity": "2",
                "unit_price": "150.00",
                "amount": "300.00",
                "tax_code": "NON",
            },
            {
                "item_external_id": "item-2",
                "quantity": "0.5",
                "unit_price": "99.99",
                "amount": "50.00",
            },
        ],
        "memo": "Thank you",
    }
    data.update(overrides.pop("data", {}))
    return _envelope("invoice.upserted", data, **overrides)


def payment_event(
    external_id: str = "pay-1", customer: str = "cust-1", **overrides: Any
) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "customer_external_id": customer,
        "date": "2026-11-26",
        "total": "350.00",
        "method": "Check",
        "reference": "CHK-1001",
        "applied_to": [{"invoice_external_id": "inv-1", "amount": "350.00"}],
    }
    data.update(overrides.pop("data", {}))
    return _envelope("payment.upserted", data, **overrides)


def ref_event(type_: str, external_id: str, **overrides: Any) -> dict[str, Any]:
    data = {"external_id": external_id, **overrides.pop("data", {})}
    return _envelope(type_, data, **overrides)


def invoice_with_parents(customer: str = "cust-1", **overrides: Any) -> list[dict[str, Any]]:
    """A customer, the two items of the default invoice lines, and an invoice of that
    customer: what a caller sends for one sale, parents first."""
    return [
        customer_event(customer, **overrides),
        item_event("item-1", **overrides),
        item_event("item-2", **overrides),
        invoice_event("inv-1", customer=customer, **overrides),
    ]


def _sales_form(external_id: str, customer: str) -> dict[str, Any]:
    """An invoice's data without what only invoices have (due date, terms)."""
    data = invoice_event(external_id, customer)["data"]
    data.pop("due_date", None)
    return dict(data)


def credit_memo_event(
    external_id: str = "cm-1", customer: str = "cust-1", **overrides: Any
) -> dict[str, Any]:
    data = {**_sales_form(external_id, customer), "number": "CM-0001"}
    data.update(overrides.pop("data", {}))
    return _envelope("credit_memo.upserted", data, **overrides)


def sales_receipt_event(
    external_id: str = "sr-1", customer: str = "cust-1", **overrides: Any
) -> dict[str, Any]:
    data = {**_sales_form(external_id, customer), "number": "SR-0001", "reference": "CARD-77"}
    data.update(overrides.pop("data", {}))
    return _envelope("sales_receipt.upserted", data, **overrides)


def refund_event(
    external_id: str = "rf-1", customer: str = "cust-1", **overrides: Any
) -> dict[str, Any]:
    data = {**_sales_form(external_id, customer), "number": "RF-0001"}
    data.update(overrides.pop("data", {}))
    return _envelope("refund.upserted", data, **overrides)


def operation_event(type_: str, external_id: str, **overrides: Any) -> dict[str, Any]:
    """A void, delete, deactivation or send naming one record."""
    data = {"external_id": external_id, **overrides.pop("data", {})}
    return _envelope(type_, data, **overrides)
