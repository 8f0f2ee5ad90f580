"""What a change seen in QBO did to a record we own, and whether it is our own write coming
back: pure functions over the snapshot the engine keeps (`app.sync.owned`).

The same SyncToken is our own write coming back; a void, a deletion, a merge or
`Active=false` is named as such; otherwise the owned fields are compared one by one, and a
change only in fields we do not own (an accountant's Title, QBO's own Balance) is no drift
at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from app.sync.owned import Json, owned_fields

DriftKind = Literal["edited", "voided", "deleted", "merged", "inactive"]


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


def whole_second(moment: datetime) -> datetime:
    """QBO stamps records to the second (`2015-07-24T10:33:39-07:00`); a webhook may write
    the same moment with milliseconds (`…39.000Z`) or finer (CloudEvents `time`)."""
    return moment.astimezone(UTC).replace(microsecond=0)


# What `echo_of_own_write` says of a change it recognises (also the start of the
# sighting's result).
OWN_WRITE = "our own write"
OLDER_VERSION = "an older version than our last write"
OWN_DELETION = "our own deletion"


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
    stamped (a deletion answer carries no time), and a create or update stamped up to the
    last time we know of it, announced after our deletion, is an older version.
    """
    if last_write == "Delete" and operation == "Delete":
        return OWN_DELETION
    if changed_at is None or written_at is None or last_write is None:
        return None
    seen, ours = whole_second(changed_at), whole_second(written_at)
    if seen < ours and operation in ("Create", "Update", last_write):
        return OLDER_VERSION
    if last_write == "Delete" and seen == ours and operation in ("Create", "Update"):
        # Our deletion came after the write it kept the time of (its answer has none): a
        # change of that second, announced late, is of the record before we deleted it.
        return OLDER_VERSION
    if seen == ours and operation == last_write and not echoed:
        return OWN_WRITE
    return None


# Records whose LastUpdatedTime a write of ours to another record moves in QBO: an
# invoice's customer (its open balance), a payment's customer and the invoices it pays
# (their balances and links). QBO notifies these as `Update`s of their own.
# Writes that move other records: the customer's balance, applied invoices and credits.
TOUCHING = frozenset(
    {"invoice", "payment", "credit_memo", "sales_receipt", "refund", "applied_credit"}
)


def touched_by(entity_type: str, owned: Json | None) -> set[tuple[str, str]]:
    """(QBO entity, Id) of the records a write of ours to an `entity_type` record also
    changes, from `owned_fields` of its answer."""
    if owned is None or entity_type not in TOUCHING:
        return set()
    touched: set[tuple[str, str]] = set()
    customer = owned.get("CustomerRef.value")
    if customer is not None:
        touched.add(("Customer", str(customer)))
    if entity_type in ("payment", "applied_credit"):
        for line in owned.get("Line") or []:
            for invoice in (line or {}).get("Invoices") or []:
                touched.add(("Invoice", str(invoice)))
            for memo in (line or {}).get("CreditMemos") or []:
                touched.add(("CreditMemo", str(memo)))
    if entity_type == "refund":
        for memo in owned.get("RefundedCreditMemos") or []:
            touched.add(("CreditMemo", str(memo)))
    return touched
