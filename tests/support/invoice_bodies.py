"""Request bodies for the invoice tests, each checked against Intuit's XSD before use."""

from __future__ import annotations

from typing import Any

from tests.support.xsd_names import unknown_names


def valid(entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body`, after asserting every key is an element of the entity's XSD type."""
    problems = unknown_names(body, entity)
    assert not problems, problems
    return body


def sales(amount: str, tax: str | None = None, item: str = "1", **detail: Any) -> dict[str, Any]:
    """A SalesItemLineDetail line (TaxCodeRef when `tax` is given)."""
    line_detail: dict[str, Any] = {"ItemRef": {"value": item}, **detail}
    if tax is not None:
        line_detail["TaxCodeRef"] = {"value": tax}
    return {
        "Amount": float(amount),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": line_detail,
    }


def shipping(amount: str, tax: str | None = None) -> dict[str, Any]:
    return sales(amount, tax, item="SHIPPING_ITEM_ID")


def discount(amount: str | None = None, percent: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"PercentBased": percent is not None}
    if percent is not None:
        detail["DiscountPercent"] = float(percent)
    line: dict[str, Any] = {"DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}
    if amount is not None:
        line["Amount"] = float(amount)
    return line


def invoice(customer_id: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return valid("Invoice", {"CustomerRef": {"value": customer_id}, "Line": list(lines), **fields})
