"""Which fields of a QBO record this service owns, as pure functions.

After each write the engine keeps `owned_fields(record)` of QBO's answer beside the mapping,
with what the write did (`write_operation`) and when QBO stamped it (`last_updated`). Drift
detection (`app.drift.changes`) later compares a change seen in QBO with that snapshot.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from app.core.times import parse_time
from app.events.schemas import (
    AppliedCreditData,
    CreditMemoData,
    CustomerData,
    InvoiceData,
    ItemData,
    PaymentData,
    RefundData,
    SalesReceiptData,
)
from app.sync.payloads.ownership import OWNED

Json = dict[str, Any]

# QBO entity name <-> our entity type.
ENTITY_TYPES = {
    "Customer": "customer",
    "Item": "item",
    "Invoice": "invoice",
    "Payment": "payment",
    "CreditMemo": "credit_memo",
    "SalesReceipt": "sales_receipt",
    "RefundReceipt": "refund",
}
# An applied credit is a Payment too: QBO's Payment webhooks and CDC name either kind.
QBO_ENTITIES = {v: k for k, v in ENTITY_TYPES.items()} | {"applied_credit": "Payment"}
ALSO_OF_ENTITY = {"Payment": ("applied_credit",)}


def entity_types_of(entity: str) -> tuple[str, ...]:
    """Our entity types a QBO entity's record may be mapped as (a Payment: a payment, or a
    credit memo's applied credit)."""
    return (ENTITY_TYPES[entity], *ALSO_OF_ENTITY.get(entity, ()))


# The data model of each entity type's upserts.
DATA_MODELS: dict[str, type[BaseModel]] = {
    "customer": CustomerData,
    "item": ItemData,
    "invoice": InvoiceData,
    "payment": PaymentData,
    "credit_memo": CreditMemoData,
    "sales_receipt": SalesReceiptData,
    "refund": RefundData,
    "applied_credit": AppliedCreditData,
}

SALES_FORMS = frozenset({"invoice", "credit_memo", "sales_receipt", "refund"})
# Paths (dotted) of the scalar fields we own, per entity type; lines are handled apart.
_SCALARS: dict[str, tuple[str, ...]] = {
    entity_type: tuple(path for f in fields for path in f.compared)
    for entity_type, fields in OWNED.items()
}
NUMERIC = frozenset(
    path for fields in OWNED.values() for f in fields if f.numeric for path in f.compared
)


def _get(record: Json, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _norm(value: Any) -> Any:
    """Numbers compare as decimals (QBO answers 150 for 150.00); text as it is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return _decimal_text(value)
    if isinstance(value, str):
        return value
    return str(value)


def _num(value: Any) -> Any:
    """An amount or quantity, whether QBO wrote it as a number or as text."""
    return None if value is None else _decimal_text(value)


def _decimal_text(value: Any) -> str:
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def _invoice_lines(record: Json) -> list[Json]:
    lines = []
    for line in record.get("Line") or []:
        if not isinstance(line, dict) or line.get("DetailType") != "SalesItemLineDetail":
            continue
        detail = line.get("SalesItemLineDetail") or {}
        owned: Json = {
            "Amount": _num(line.get("Amount")),
            "Description": line.get("Description"),
            "ItemRef": _get(detail, "ItemRef.value"),
            "Qty": _num(detail.get("Qty")),
            "UnitPrice": _num(detail.get("UnitPrice")),
            "TaxCodeRef": _get(detail, "TaxCodeRef.value"),
        }
        # Only when set: snapshots taken before lines carried a class stay comparable.
        if (line_class := _get(detail, "ClassRef.value")) is not None:
            owned["ClassRef"] = line_class
        lines.append(owned)
    return lines


def _payment_lines(record: Json) -> list[Json]:
    lines = []
    for line in record.get("Line") or []:
        if not isinstance(line, dict):
            continue
        links = [t for t in line.get("LinkedTxn") or [] if isinstance(t, dict)]
        owned: Json = {
            "Amount": _num(line.get("Amount")),
            "Invoices": [str(t.get("TxnId")) for t in links if t.get("TxnType") == "Invoice"],
        }
        # Only when there: snapshots of payments of invoices alone stay comparable.
        memos = [str(t.get("TxnId")) for t in links if t.get("TxnType") == "CreditMemo"]
        if memos:
            owned["CreditMemos"] = memos
        lines.append(owned)
    return lines


def owned_fields(entity_type: str, record: Json) -> Json:
    """The values of the fields we own in a QBO record, normalised for comparison."""
    owned: Json = {
        path: (_num if path in NUMERIC else _norm)(_get(record, path))
        for path in _SCALARS[entity_type]
    }
    if entity_type in SALES_FORMS:
        owned["Line"] = _invoice_lines(record)
    elif entity_type in ("payment", "applied_credit"):
        owned["Line"] = _payment_lines(record)
    if entity_type in SALES_FORMS or entity_type == "payment":
        owned["Voided"] = is_voided(record)
    if entity_type == "refund":
        owned["RefundedCreditMemos"] = [
            str(t.get("TxnId"))
            for t in record.get("LinkedTxn") or []
            if isinstance(t, dict) and t.get("TxnType") == "CreditMemo"
        ]
    return owned


def is_voided(record: Json) -> bool:
    """QBO voids in place: amounts become zero and "Voided" starts the private note."""
    note = str(record.get("PrivateNote") or "")
    return note.startswith("Voided") and _num(record.get("TotalAmt")) in ("0", None)


# What a write of ours did, named as Intuit's webhooks name the change they announce:
# `operation` of a legacy entity, the verb of a CloudEvents `type`
# (https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks).
WRITE_OPERATIONS = ("Create", "Update", "Void", "Delete")


def write_operation(event_operation: str, record: Json | None) -> str:
    """What one of our writes did in QBO: an event's operation and QBO's answer to it (a
    record QBO has just created has SyncToken 0; an adopted one was updated)."""
    if event_operation == "deleted":
        return "Delete"
    if event_operation == "voided":
        return "Void"
    if event_operation == "upserted" and str((record or {}).get("SyncToken")) == "0":
        return "Create"
    return "Update"


def last_updated(record: Json | None) -> datetime | None:
    """`MetaData.LastUpdatedTime` of a record QBO answered, in UTC; None when the answer
    has none (a deletion answers `{"status": "Deleted", "Id": ...}` only)."""
    return parse_time(((record or {}).get("MetaData") or {}).get("LastUpdatedTime"))
