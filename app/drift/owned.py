"""Which fields of a QBO record this service owns, and what changed in them: pure functions.

After each write the engine keeps `owned_fields(record)` of QBO's answer beside the mapping.
A change seen later (webhook or CDC) is compared with that snapshot: the same SyncToken is
our own write coming back; a void, a deletion, a merge or `Active=false` is named as such;
otherwise the owned fields are compared one by one, and a change only in fields we do not
own (an accountant's Title, QBO's own Balance) is no drift at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Json = dict[str, Any]
DriftKind = Literal["edited", "voided", "deleted", "merged", "inactive"]

# QBO entity name <-> our entity type.
ENTITY_TYPES = {"Customer": "customer", "Item": "item", "Invoice": "invoice", "Payment": "payment"}
QBO_ENTITIES = {v: k for k, v in ENTITY_TYPES.items()}

# Paths (dotted) of the scalar fields we write, per entity type; lines are handled apart.
_SCALARS: dict[str, tuple[str, ...]] = {
    "customer": (
        "DisplayName",
        "GivenName",
        "FamilyName",
        "CompanyName",
        "PrimaryEmailAddr.Address",
        "PrimaryPhone.FreeFormNumber",
        "BillAddr.Line1",
        "BillAddr.Line2",
        "BillAddr.City",
        "BillAddr.CountrySubDivisionCode",
        "BillAddr.PostalCode",
        "BillAddr.Country",
        "CurrencyRef.value",
        "Active",
    ),
    "item": (
        "Name",
        "Type",
        "UnitPrice",
        "Description",
        "Sku",
        "IncomeAccountRef.value",
        "Active",
    ),
    "invoice": (
        "CustomerRef.value",
        "TxnDate",
        "DueDate",
        "DocNumber",
        "CurrencyRef.value",
        "CustomerMemo.value",
        "TotalAmt",
    ),
    "payment": ("CustomerRef.value", "TotalAmt", "TxnDate", "PaymentRefNum", "CurrencyRef.value"),
}


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


NUMERIC = frozenset({"TotalAmt", "UnitPrice"})


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
        lines.append(
            {
                "Amount": _num(line.get("Amount")),
                "Description": line.get("Description"),
                "ItemRef": _get(detail, "ItemRef.value"),
                "Qty": _num(detail.get("Qty")),
                "UnitPrice": _num(detail.get("UnitPrice")),
                "TaxCodeRef": _get(detail, "TaxCodeRef.value"),
            }
        )
    return lines


def _payment_lines(record: Json) -> list[Json]:
    lines = []
    for line in record.get("Line") or []:
        if not isinstance(line, dict):
            continue
        linked = [
            str(t.get("TxnId"))
            for t in line.get("LinkedTxn") or []
            if isinstance(t, dict) and t.get("TxnType") == "Invoice"
        ]
        lines.append({"Amount": _num(line.get("Amount")), "Invoices": linked})
    return lines


def owned_fields(entity_type: str, record: Json) -> Json:
    """The values of the fields we own in a QBO record, normalised for comparison."""
    owned: Json = {
        path: (_num if path in NUMERIC else _norm)(_get(record, path))
        for path in _SCALARS[entity_type]
    }
    if entity_type == "invoice":
        owned["Line"] = _invoice_lines(record)
    elif entity_type == "payment":
        owned["Line"] = _payment_lines(record)
    if entity_type in ("invoice", "payment"):
        owned["Voided"] = is_voided(record)
    return owned


def is_voided(record: Json) -> bool:
    """QBO voids in place: amounts become zero and "Voided" starts the private note."""
    note = str(record.get("PrivateNote") or "")
    return note.startswith("Voided") and _num(record.get("TotalAmt")) in ("0", None)


@dataclass(frozen=True, slots=True)
class Change:
    """What a change made in QBO did to a record we own."""

    kind: DriftKind
    changes: Json  # field -> {"ours": ..., "theirs": ...}; empty for deletions and merges


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one sighting: `change` is None when it is no drift, and
    `reason` says why (our own write coming back, an older version, fields we do not own)."""

    change: Change | None
    reason: str
    sync_token: str | None = None  # the record's SyncToken as seen, when it was seen


def _token(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


def classify(
    entity_type: str,
    ours: Json | None,
    our_sync_token: str,
    record: Json | None,
    operation: str | None = None,
) -> Verdict:
    """Compare the record as QBO holds it now (None: deleted) with what we last wrote.

    `ours` is `owned_fields` of our last write's answer (None when unknown); `operation`
    is what the notification said ("Merge" tells a merge from a deletion).
    """
    if record is None:
        kind: DriftKind = "merged" if (operation or "").lower() == "merge" else "deleted"
        return Verdict(Change(kind, {}), f"{kind} in QBO")
    token = str(record.get("SyncToken", ""))
    if _token(token) <= _token(our_sync_token):
        what = "our own write" if token == our_sync_token else "an older version"
        return Verdict(None, f"{what} (SyncToken {token})", token)
    theirs = owned_fields(entity_type, record)
    if ours is None:
        return Verdict(Change("edited", {}), "changed in QBO since our last write", token)
    changes = {
        field: {"ours": ours.get(field), "theirs": value}
        for field, value in theirs.items()
        if value != ours.get(field)
    }
    if theirs.get("Voided") and not ours.get("Voided"):
        return Verdict(Change("voided", changes), "voided in QBO", token)
    if theirs.get("Active") is False and ours.get("Active") is not False:
        return Verdict(Change("inactive", changes), "made inactive in QBO", token)
    if not changes:
        return Verdict(None, "only fields we do not own changed", token)
    return Verdict(Change("edited", changes), "fields we own were edited in QBO", token)
