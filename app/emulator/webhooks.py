"""Intuit's webhook notifications: what one change is, the two body formats, the signature.

Pure functions only; sending them (aggregation, retries, loss) is `webhook_delivery`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

WebhookFormat = Literal["legacy", "cloudevents"]

# Entities whose changes the emulator notifies (those the Accounting API can write; Intuit
# notifies "Customer, Invoice, Payment, Item and ~30 other entities", qbo-facts §6, and
# names creditmemo among its CloudEvents types).
NOTIFIED_ENTITIES = frozenset(
    {"Customer", "Item", "Invoice", "Payment", "CreditMemo", "SalesReceipt", "RefundReceipt"}
)
# Legacy `operation` -> the verb of a CloudEvents `type` (`qbo.invoice.voided.v1`).
OPERATION_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",  # UNCONFIRMED: no CloudEvents sample of a send
}


@dataclass(frozen=True)
class Notification:
    """One change of one record: what a `dataChangeEvent` entity or a CloudEvent says."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str
    # MetaData.LastUpdatedTime of the record after the change, or the deletion time.
    last_updated: datetime


def utc_stamp(moment: datetime) -> str:
    """A time as Intuit's webhooks write it: UTC, milliseconds, `Z` (`2016-10-05T03:09:04.000Z`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def legacy_body(notifications: Sequence[Notification]) -> bytes:
    """`{"eventNotifications": [...]}` with one entry per realm, in first-seen order."""
    by_realm: dict[str, list[dict[str, str]]] = {}
    for note in notifications:
        by_realm.setdefault(note.realm_id, []).append(
            {
                "name": note.entity,
                "id": note.entity_id,
                "operation": note.operation,
                "lastUpdated": utc_stamp(note.last_updated),
            }
        )
    return _compact(
        {
            "eventNotifications": [
                {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}
                for realm_id, entities in by_realm.items()
            ]
        }
    )


def cloudevent(note: Notification, source: str) -> dict[str, Any]:
    """One CloudEvent (`qbo.<entity>.<verb>.v1`) with a fresh uuid4 `id`."""
    verb = OPERATION_VERBS.get(note.operation, note.operation.lower())
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": f"qbo.{note.entity.lower()}.{verb}.v1",
        "datacontenttype": "application/json",
        "time": utc_stamp(note.last_updated),
        "intuitentityid": note.entity_id,
        "intuitaccountid": note.realm_id,
        "data": {},
    }


def cloudevents_body(notifications: Sequence[Notification], source: str) -> bytes:
    """A JSON array of CloudEvents; realms may be mixed, as in Intuit's new format."""
    return _compact([cloudevent(note, source) for note in notifications])


def render_body(fmt: WebhookFormat, notifications: Sequence[Notification], source: str) -> bytes:
    """The exact bytes one delivery posts (and signs) in the chosen format."""
    if fmt == "cloudevents":
        return cloudevents_body(notifications, source)
    return legacy_body(notifications)


def event_source(verifier_token: str) -> str:
    """An opaque `source` (`intuit.<base64>`) that stays the same for one verifier token."""
    digest = hashlib.sha256(f"qbo-emulator:{verifier_token}".encode()).digest()
    return "intuit." + base64.b64encode(digest).decode("ascii")


def sign(body: bytes, verifier_token: str) -> str:
    """The `intuit-signature` header: base64(HMAC-SHA256(key=token UTF-8, msg=body bytes))."""
    mac = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify(body: bytes, signature: str, verifier_token: str) -> bool:
    """Whether a signature matches the exact body bytes (constant-time), as a receiver checks."""
    return hmac.compare_digest(sign(body, verifier_token), signature.strip())
