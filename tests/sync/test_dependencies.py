"""Which records an event's write needs in QBO first, in the order they are checked (pure)."""

from __future__ import annotations

from typing import Any

from app.events.models import Event
from app.sync.dependencies import parents_of


def _event(entity_type: str, operation: str, data: dict[str, Any]) -> Event:
    return Event(entity_type=entity_type, operation=operation, payload={"data": data})


def test_an_invoice_needs_its_customer_then_each_item_once() -> None:
    invoice = _event(
        "invoice",
        "upserted",
        {
            "customer_external_id": "c1",
            "lines": [
                {"item_external_id": "i1"},
                {"item_external_id": 7},
                {"item_external_id": "i1"},
            ],
        },
    )
    assert parents_of(invoice) == [("customer", "c1"), ("item", "i1"), ("item", "7")]


def test_a_payment_needs_its_customer_then_its_invoices() -> None:
    payment = _event(
        "payment",
        "upserted",
        {
            "customer_external_id": "c1",
            "applied_to": [{"invoice_external_id": "n1"}, {"invoice_external_id": "n2"}],
        },
    )
    assert parents_of(payment) == [("customer", "c1"), ("invoice", "n1"), ("invoice", "n2")]


def test_customers_items_and_other_operations_need_nothing() -> None:
    assert parents_of(_event("customer", "upserted", {"display_name": "Acme"})) == []
    assert parents_of(_event("item", "upserted", {"name": "Bolt"})) == []
    assert parents_of(_event("invoice", "voided", {})) == []
    assert parents_of(_event("payment", "deleted", {})) == []


def test_a_sub_customer_needs_its_parent() -> None:
    child = _event("customer", "upserted", {"display_name": "Site", "parent_external_id": "c1"})
    assert parents_of(child) == [("customer", "c1")]
    assert parents_of(_event("customer", "upserted", {"parent_external_id": None})) == []
    assert parents_of(_event("customer", "deactivated", {"parent_external_id": "c1"})) == []


def test_description_and_subtotal_lines_need_no_item() -> None:
    invoice = _event(
        "invoice",
        "upserted",
        {
            "customer_external_id": "c1",
            "lines": [
                {"kind": "description", "item_external_id": None, "description": "x"},
                {"kind": "item", "item_external_id": "i1"},
                {"kind": "subtotal"},
            ],
        },
    )
    assert parents_of(invoice) == [("customer", "c1"), ("item", "i1")]
