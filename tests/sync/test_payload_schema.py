"""Every key of every body is a name Intuit's XSD defines for its type; enums are XSD enum
values; money is Decimal all the way down and serialises exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from lxml import etree

from app.sync.payloads import (
    CREATE_ONLY_FIELDS,
    OWNED_FIELDS,
    body_json,
    customer_body,
    deactivate_body,
    delete_body,
    invoice_body,
    item_body,
    payment_body,
    sparse_update,
    void_invoice_body,
    void_payment_body,
)
from tests.support.samples import (
    GB,
    INCOME_ACCOUNT,
    INVOICE_REFS,
    ITEM_REFS,
    NAMES,
    US,
    US_CUSTOM_NUMBERS,
    US_TRACKING,
    customer,
    full_invoice,
    invoice,
    item,
    payment,
)
from tests.support.xsd_names import FIXTURES, XS, schema, unknown_names

DETAIL_OBJECTS = {"DescriptionOnly": "DescriptionLineDetail"}
XSD_TYPES = {
    "customer": "Customer",
    "item": "Item",
    "invoice": "Invoice",
    "payment": "Payment",
    "credit_memo": "CreditMemo",
    "sales_receipt": "SalesReceipt",
    "refund": "RefundReceipt",
    "applied_credit": "Payment",
}


def _gb_invoice() -> Any:
    lines = [line.model_dump(mode="json") for line in invoice().lines]
    lines[0]["tax_code"] = "2"
    return invoice(lines=lines, currency="EUR")


def bodies() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(entity, label, body) for every builder, company kind and update form."""
    creates = [
        ("customer", "us", customer_body(customer(), US)),
        ("customer", "gb", customer_body(customer(currency="EUR"), GB)),
        ("item", "service", item_body(item(), INCOME_ACCOUNT)),
        ("item", "non-inventory", item_body(item(type="non_inventory"), INCOME_ACCOUNT)),
        ("invoice", "us", invoice_body(invoice(), US, "58", ITEM_REFS)),
        ("invoice", "us-numbers", invoice_body(invoice(), US_CUSTOM_NUMBERS, "58", ITEM_REFS)),
        ("invoice", "gb", invoice_body(_gb_invoice(), GB, "58", ITEM_REFS)),
        (
            "invoice",
            "every-field",
            invoice_body(
                full_invoice(currency="EUR", exchange_rate="1.0825"),
                US_TRACKING,
                "58",
                ITEM_REFS,
                NAMES,
            ),
        ),
        (
            "customer",
            "sub-customer",
            customer_body(
                customer(parent_external_id="crm-1", taxable=False, tax_exemption_reason_id=9),
                US,
                "41",
            ),
        ),
        (
            "payment",
            "exchange-rate",
            payment_body(payment(currency="EUR", exchange_rate="0.86"), GB, "58", INVOICE_REFS),
        ),
        ("payment", "us", payment_body(payment(), US, "58", INVOICE_REFS)),
        ("payment", "gb", payment_body(payment(currency="EUR"), GB, "58", INVOICE_REFS)),
    ]
    for entity, label, body in creates:
        yield entity, f"{label}-create", body
        yield entity, f"{label}-update", sparse_update(body, "58", "2")
    for entity in ("customer", "item"):
        yield entity, "deactivate", deactivate_body("58", "2")
    yield "invoice", "void", void_invoice_body("58", "2")
    yield "invoice", "delete", delete_body("58", "2")
    yield "payment", "void", void_payment_body("58", "2")
    yield "payment", "delete", delete_body("58", "2")


BODIES = list(bodies())
IDS = [f"{entity}-{label}" for entity, label, _ in BODIES]


@pytest.mark.parametrize(("entity", "label", "body"), BODIES, ids=IDS)
def test_every_key_is_an_xsd_name(entity: str, label: str, body: dict[str, Any]) -> None:
    assert unknown_names(body, XSD_TYPES[entity]) == []


def test_the_checker_catches_misplaced_keys() -> None:
    body = invoice_body(invoice(), US, "58", ITEM_REFS)
    body["Line"][0]["Qty"] = body["Line"][0]["SalesItemLineDetail"].pop("Qty")
    body["CustomerRefs"] = body.pop("CustomerRef")
    assert unknown_names(body, "Invoice") == [
        "Line[0].Qty (type Line)",
        "CustomerRefs (type Invoice)",
    ]


@cache
def xsd_enum(name: str) -> frozenset[str]:
    """The values of a simpleType enumeration of Finance.xsd."""
    tree = etree.parse(str(FIXTURES / "Finance.xsd"))
    node = tree.getroot().find(f"{XS}simpleType[@name='{name}']")
    assert node is not None, name
    return frozenset(str(e.get("value")) for e in node.iter(f"{XS}enumeration"))


@pytest.mark.parametrize(("entity", "label", "body"), BODIES, ids=IDS)
def test_enum_values_are_xsd_values(entity: str, label: str, body: dict[str, Any]) -> None:
    if "Type" in body:
        assert body["Type"] in xsd_enum("ItemTypeEnum")
    if "GlobalTaxCalculation" in body:
        assert body["GlobalTaxCalculation"] in xsd_enum("GlobalTaxCalculationEnum")
    for line in body.get("Line", []):
        if "DetailType" in line:
            assert line["DetailType"] in xsd_enum("LineDetailTypeEnum")
            # The detail object is named after its type, but for DescriptionOnly (as QBO
            # answers it: quickbooks-ruby-fixtures, an invoice's description line).
            detail = DETAIL_OBJECTS.get(line["DetailType"], line["DetailType"])
            assert detail in line
        for link in line.get("LinkedTxn", []):
            assert link["TxnType"] in xsd_enum("TxnTypeEnum")


def test_owned_fields_are_xsd_names_and_cover_every_update() -> None:
    for entity, owned in OWNED_FIELDS.items():
        children, attributes, _ = schema().names(XSD_TYPES[entity])
        assert owned <= set(children) | attributes, entity
        assert not owned & CREATE_ONLY_FIELDS
    for entity, label, body in BODIES:
        written = set(body) - {"Id", "SyncToken", "sparse"} - CREATE_ONLY_FIELDS
        assert written <= OWNED_FIELDS[entity], (entity, label)


def _numbers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item_ in value.values():
            yield from _numbers(item_)
    elif isinstance(value, list):
        for item_ in value:
            yield from _numbers(item_)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        yield value


@pytest.mark.parametrize(("entity", "label", "body"), BODIES, ids=IDS)
def test_numbers_are_decimal_and_round_trip_exactly(
    entity: str, label: str, body: dict[str, Any]
) -> None:
    assert all(isinstance(n, Decimal) for n in _numbers(body))
    assert json.loads(body_json(body), parse_float=Decimal) == body


def test_decimal_sums_stay_exact() -> None:
    lines = [
        {"item_external_id": "sku-consult", "quantity": "1", "unit_price": "0.1", "amount": "0.10"},
        {"item_external_id": "sku-consult", "quantity": "1", "unit_price": "0.2", "amount": "0.20"},
        {
            "item_external_id": "sku-consult",
            "quantity": "0.5",
            "unit_price": "99.99",
            "amount": "50.00",
        },
    ]
    body = invoice_body(invoice(lines=lines), US, "58", ITEM_REFS)
    amounts = [line["Amount"] for line in body["Line"]]
    assert sum(amounts[:2], Decimal(0)) == Decimal("0.30")
    assert amounts[2] == Decimal("50.00")
    text = body_json(body)
    assert '"Amount":0.10' in text
    assert '"Amount":0.20' in text
    assert '"Amount":50.00' in text
    assert '"Qty":0.5,"UnitPrice":99.99' in text
    assert "0.30000000000000004" not in body_json({"x": Decimal("0.1") + Decimal("0.2")})


def test_body_json_writes_strings_and_refuses_floats() -> None:
    assert body_json({"a": "O'Brien \\ \u00e9", "b": [True, None, 3]}) == (
        '{"a":"O\'Brien \\\\ \u00e9","b":[true,null,3]}'
    )
    assert body_json({"n": Decimal("1E+2")}) == '{"n":100}'
    with pytest.raises(TypeError):
        body_json({"amount": 0.1})
    with pytest.raises(TypeError):
        body_json({"amount": Decimal("NaN")})
