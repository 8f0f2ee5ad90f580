"""Which fields of a QBO record this service owns, and what changed in them: pure functions.

After each write the engine keeps `owned_fields(record)` of QBO's answer beside the mapping.
A change seen later (webhook or CDC) is compared with that snapshot: the same SyncToken is
our own write coming back; a void, a deletion, a merge or `Active=false` is named as such;
otherwise the owned fields are compared one by one, and a change only in fields we do not
own (an accountant's Title, QBO's own Balance) is no drift at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from app.sync.payloads.ownership import OWNED
from app.webhooks.intuit import parse_time

Json = dict[str, Any]
DriftKind = Literal["edited", "voided", "deleted", "merged", "inactive"]

# QBO entity name <-> our entity type.
ENTITY_TYPES = {"Customer": "customer", "Item": "item", "Invoice": "invoice", "Payment": "payment"}
QBO_ENTITIES = {v: k for k, v in ENTITY_TYPES.items()}

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
    last_write: str | None = None,
) -> Verdict:
    """Compare the record as QBO holds it now (None: deleted) with what we last wrote.

    `ours` is `owned_fields` of our last write's answer (None when unknown); `operation`
    is what the notification said ("Merge" tells a merge from a deletion); `last_write`
    what our last write did (`write_operation`): a record we deleted is gone by our hand.
    """
    if record is None and last_write == "Delete" and (operation or "").lower() != "merge":
        return Verdict(None, "deleted by our own write")
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


# -- our own writes coming back as webhooks -------------------------------------------

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


def whole_second(moment: datetime) -> datetime:
    """QBO stamps records to the second (`2015-07-24T10:33:39-07:00`); a webhook may write
    the same moment with milliseconds (`…39.000Z`) or finer (CloudEvents `time`)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def echo_of_own_write(
    operation: str,
    changed_at: datetime | None,
    last_write: str | None,
    written_at: datetime | None,
    echoed: bool,
) -> str | None:
    """Why a notified change of a record is our own last write (or an older version)
    coming back, or None when it may be someone else's and must be read.

    The notification carries the operation and `lastUpdated` (CloudEvents: `time`); our
    write's answer gave `MetaData.LastUpdatedTime` (`written_at`), what it did
    (`last_write`), and `echoed` says its notification was already seen. A change stamped
    before our write is an older version: our write sent every field we own after it. One
    stamped in the very second of our write is ours once, when it is what we did; a second
    one in that second (CloudEvents ids differ) is someone else's. A change after our
    write is someone else's. A deletion of a record we deleted is ours whenever it is
    stamped (a deletion answer carries no time).
    """
    if last_write == "Delete" and operation == "Delete":
        return "our own deletion"
    if changed_at is None or written_at is None or last_write is None:
        return None
    seen, ours = whole_second(changed_at), whole_second(written_at)
    if seen < ours and operation in ("Create", "Update", last_write):
        return "an older version than our last write"
    if seen == ours and operation == last_write and not echoed:
        return "our own write"
    return None


# Records whose LastUpdatedTime a write of ours to another record moves in QBO: an
# invoice's customer (its open balance), a payment's customer and the invoices it pays
# (their balances and links). QBO notifies these as `Update`s of their own.
def touched_by(entity_type: str, owned: Json | None) -> set[tuple[str, str]]:
    """(QBO entity, Id) of the records a write of ours to an `entity_type` record also
    changes, from `owned_fields` of its answer."""
    if owned is None or entity_type not in ("invoice", "payment"):
        return set()
    touched: set[tuple[str, str]] = set()
    customer = owned.get("CustomerRef.value")
    if customer is not None:
        touched.add(("Customer", str(customer)))
    if entity_type == "payment":
        for line in owned.get("Line") or []:
            for invoice in (line or {}).get("Invoices") or []:
                touched.add(("Invoice", str(invoice)))
    return touched
