"""Intuit's webhook deliveries: the signature, and both body formats, as pure functions.

`intuit-signature` is Base64(HMAC-SHA256(verifier token, raw body)); it is checked on the
exact bytes before anything is parsed. Bodies come in the legacy `eventNotifications`
shape or as a CloudEvents array (mandatory since 2026); both become `Sighting`s.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.times import parse_time

SIGNATURE_HEADER = "intuit-signature"
# qbo.<entity>.<verb>.v1
CLOUDEVENT_TYPE = re.compile(r"^qbo\.([a-z]+)\.([a-z]+)\.v\d+$")
VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}
# QBO's entity names by their lower-case form (CloudEvents spell them in lower case).
KNOWN_ENTITIES = {
    name.lower(): name
    for name in ("Customer", "Item", "Invoice", "Payment", "Vendor", "Employee", "Account")
}


class MalformedNotification(ValueError):
    """A signed body that is not a webhook delivery in either format."""


def sign(body: bytes, verifier_token: str) -> str:
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """Constant-time check of `intuit-signature` against the raw body."""
    if not signature:
        return False
    return hmac.compare_digest(sign(body, verifier_token).encode(), signature.strip().encode())


@dataclass(frozen=True, slots=True)
class Sighting:
    """One change QBO reported: realm, entity (QBO's name), id, operation, when."""

    dedupe_key: str
    realm_id: str
    entity: str
    qbo_id: str
    operation: str
    changed_at: datetime | None


def _text(value: Any, field: str, limit: int = 64) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise MalformedNotification(f"{field} is missing")
    text = str(value).strip()
    if len(text) > limit:
        raise MalformedNotification(f"{field} is longer than {limit} characters")
    return text


def _legacy(body: dict[str, Any]) -> list[Sighting]:
    notifications = body.get("eventNotifications")
    if not isinstance(notifications, list):
        raise MalformedNotification("eventNotifications must be a list")
    sightings = []
    for notification in notifications:
        if not isinstance(notification, dict):
            raise MalformedNotification("each event notification must be an object")
        realm_id = _text(notification.get("realmId"), "realmId", 32)
        entities = (notification.get("dataChangeEvent") or {}).get("entities")
        if not isinstance(entities, list):
            raise MalformedNotification("dataChangeEvent.entities must be a list")
        for entity in entities:
            if not isinstance(entity, dict):
                raise MalformedNotification("each entity must be an object")
            name = _text(entity.get("name"), "name", 40)
            qbo_id = _text(entity.get("id"), "id")
            operation = _text(entity.get("operation"), "operation", 16)
            last_updated = entity.get("lastUpdated")
            changed_at = parse_time(last_updated)
            stamp = changed_at.isoformat() if changed_at else str(last_updated)
            sightings.append(
                Sighting(
                    f"legacy:{realm_id}:{name}:{qbo_id}:{operation}:{stamp}",
                    realm_id,
                    name,
                    qbo_id,
                    operation,
                    changed_at,
                )
            )
    return sightings


def _cloudevents(events: list[Any]) -> list[Sighting]:
    sightings = []
    for event in events:
        if not isinstance(event, dict) or "specversion" not in event:
            raise MalformedNotification("each CloudEvent must be an object with specversion")
        event_id = _text(event.get("id"), "id", 200)
        kind = _cloudevent_type(str(event.get("type") or ""))
        if kind is None:
            raise MalformedNotification(f"unknown CloudEvent type {event.get('type')!r}")
        entity, operation = kind
        sightings.append(
            Sighting(
                f"ce:{event_id}",
                _text(event.get("intuitaccountid"), "intuitaccountid", 32),
                entity,
                _text(event.get("intuitentityid"), "intuitentityid"),
                operation,
                parse_time(event.get("time")),
            )
        )
    return sightings


@functools.lru_cache(maxsize=512)
def _cloudevent_type(kind: str) -> tuple[str, str] | None:
    """QBO's entity name and operation of `qbo.<entity>.<verb>.v1`; a delivery of thousands
    of events carries a handful of types."""
    matched = CLOUDEVENT_TYPE.match(kind)
    if matched is None:
        return None
    entity = KNOWN_ENTITIES.get(matched.group(1), matched.group(1).capitalize())
    operation = VERBS.get(matched.group(2), matched.group(2).capitalize())
    return entity, operation[:16]


def parse(body: bytes) -> list[Sighting]:
    """The changes a delivery reports, in either format. Raises MalformedNotification."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        # RecursionError: nesting deeper than the parser goes (a 400, not a 500).
        raise MalformedNotification("the body is not JSON") from err
    if isinstance(document, list):
        return _cloudevents(document)
    if isinstance(document, dict):
        return _legacy(document)
    raise MalformedNotification("the body is neither a CloudEvents array nor an object")
