"""Event intake: validation results in, durable rows out, idempotent on (source, event_id)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.keys import EntityKey
from app.db import BulkInsert, one_of, utcnow
from app.errors import Conflict, validation_errors
from app.events.models import Event, EventStatus, payload_hash
from app.events.schemas import EVENT_TYPES, EventIn, _Envelope

EVENT_ADAPTER: TypeAdapter[_Envelope] = TypeAdapter(EventIn)

# Built once: intake runs these per request, and SQLAlchemy caches their compiled form.
# Core statements on the table (not the ORM class) keep the ORM's bulk machinery off this path.
_events: Table = Event.__table__  # type: ignore[assignment]
INSERT_EVENT = (
    pg_insert(_events)
    .on_conflict_do_nothing(index_elements=["source", "event_id"])
    .returning(_events.c.id)
)
# A batch of any size is one statement: one array per column (see BulkInsert).
INSERT_EVENTS = BulkInsert(
    _events,
    [
        "id",
        "source",
        "event_id",
        "realm_id",
        "entity_type",
        "external_id",
        "operation",
        "payload",
        "payload_hash",
        "occurred_at",
        "received_at",
        "updated_at",
        "status",
        "attempts",
        "next_attempt_at",
    ],
    conflict=["source", "event_id"],
    returning=["event_id"],
)
FIND_EVENT = select(_events.c.id, _events.c.status, _events.c.payload_hash).where(
    _events.c.source == bindparam("source"), _events.c.event_id == bindparam("event_id")
)


# A credit memo's application to invoices is a record of its own (QBO: a Payment of total 0
# linking the credit memo and the invoices), made from the credit memo's events: its own
# events are derived at intake, in the same statement as the credit memo's.
DERIVED_PREFIX = "derived:applied_credit:"
HAS_APPLIED_CREDIT = (
    select(_events.c.id)
    .where(
        _events.c.realm_id == bindparam("realm_id"),
        _events.c.entity_type == "applied_credit",
        _events.c.external_id == bindparam("external_id"),
    )
    .limit(1)
)


# A delete of the credit memo stored before an older state of it (it arrived first).
NEWER_DELETE = (
    select(_events.c.event_id, _events.c.occurred_at, _events.c.payload)
    .where(
        _events.c.source == bindparam("source"),
        _events.c.realm_id == bindparam("realm_id"),
        _events.c.entity_type == "credit_memo",
        _events.c.external_id == bindparam("external_id"),
        _events.c.operation == "deleted",
        _events.c.occurred_at >= bindparam("occurred_at"),
    )
    .order_by(_events.c.occurred_at.desc())
    .limit(1)
)


async def derived_rows(
    connection: AsyncConnection, values: dict[str, Any], batch: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The events a stored event implies besides itself: for a credit memo, the
    `applied_credit` of its `applied_to` (an upsert when it applies credit, or changes an
    application made before; a delete when the credit memo is deleted after its credit
    was applied, which QBO requires first). Deterministic ids: a resend derives the
    same events, and inserts neither twice.

    A delete that arrived before the state it follows derived nothing (no credit applied
    yet): that state derives the delete's too, with the delete's id and time, so that the
    credit is unapplied before the credit memo is deleted whatever the arrival order.
    `batch`: the rows stored in the same statement, seen as if stored before."""
    if values["entity_type"] != "credit_memo":
        return []
    data = values["payload"]["data"]
    applied = data.get("applied_to") or []
    record = (values["realm_id"], values["external_id"])
    mates = [r for r in batch if (r["realm_id"], r["external_id"]) == record and r is not values]
    earlier = await connection.scalar(
        HAS_APPLIED_CREDIT,
        {"realm_id": values["realm_id"], "external_id": values["external_id"]},
    )
    if earlier is None:
        earlier = next((r["id"] for r in mates if r["entity_type"] == "applied_credit"), None)
    if values["operation"] != "upserted":
        return [] if earlier is None else [_derived(values, "deleted", data["external_id"])]
    if not applied and earlier is None:
        return []
    derived_data: dict[str, Any] = {
        "external_id": data["external_id"],
        "customer_external_id": data["customer_external_id"],
        "date": data["txn_date"],
        "applied_to": applied,
    }
    rows = [_derived(values, "upserted", data["external_id"], derived_data)]
    newer = (
        await connection.execute(
            NEWER_DELETE,
            {
                "source": values["source"],
                "realm_id": values["realm_id"],
                "external_id": values["external_id"],
                "occurred_at": values["occurred_at"],
            },
        )
    ).first()
    deletes = [
        r
        for r in mates
        if (r["entity_type"], r["operation"], r["source"])
        == ("credit_memo", "deleted", values["source"])
        and r["occurred_at"] >= values["occurred_at"]
    ]
    if newer is not None:
        deletes.append(
            {"event_id": newer.event_id, "occurred_at": newer.occurred_at, "payload": newer.payload}
        )
    if deletes:
        delete = max(deletes, key=lambda r: r["occurred_at"])
        rows.append(_derived({**values, **delete}, "deleted", data["external_id"]))
    return rows


def _derived(
    values: dict[str, Any], operation: str, external_id: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `applied_credit` event derived from the credit memo event `values`: its id
    made from that event's, at that event's time."""
    digest = hashlib.sha256(values["event_id"].encode()).hexdigest()[:40]
    body = {
        "event_id": f"{DERIVED_PREFIX}{digest}",
        "realm_id": values["realm_id"],
        "occurred_at": values["payload"]["occurred_at"],
        "type": f"applied_credit.{operation}",
        "data": data or {"external_id": external_id},
    }
    return {
        **values,
        "id": uuid.uuid4(),
        "event_id": body["event_id"],
        "entity_type": "applied_credit",
        "operation": operation,
        "payload": body,
        "payload_hash": payload_hash(body),
    }


@dataclass(slots=True)
class Ingested:
    id: uuid.UUID
    status: str
    created: bool
    key: EntityKey
    type: str = ""


def _type(values: dict[str, Any]) -> str:
    return f"{values['entity_type']}.{values['operation']}"


def row_values(source: str, event: _Envelope) -> dict[str, Any]:
    body = event.model_dump(mode="json")
    entity_type, operation = event.type.split(".", 1)  # type: ignore[attr-defined]
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "source": source,
        "event_id": event.event_id,
        "realm_id": event.realm_id,
        "entity_type": entity_type,
        "external_id": body["data"]["external_id"],
        "operation": operation,
        "payload": body,
        "payload_hash": payload_hash(body),
        "occurred_at": event.occurred_at,
        "received_at": now,
        "updated_at": now,
        "status": EventStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
    }


def _key(values: dict[str, Any]) -> EntityKey:
    return EntityKey(values["realm_id"], values["entity_type"], values["external_id"])


def _conflict(event_id: str, existing: uuid.UUID) -> Conflict:
    return Conflict(
        f"event_id {event_id!r} was already used with a different body",
        existing_id=str(existing),
    )


async def ingest_event(connection: AsyncConnection, source: str, event: _Envelope) -> Ingested:
    """Insert one event, or return the one already stored under (source, event_id).

    Concurrent identical requests meet at the unique index: one inserts, the other waits for
    it and then reads it. Raises Conflict when the stored event has a different body.
    Runs on an autocommit connection: the row is durable when this returns.
    """
    values = row_values(source, event)
    derived = await derived_rows(connection, values)
    if derived:
        # One statement: the credit memo and its application are stored together or not.
        rows = await connection.execute(
            INSERT_EVENTS.statement, INSERT_EVENTS.parameters([values, *derived])
        )
        if values["event_id"] in {r.event_id for r in rows}:
            return Ingested(values["id"], values["status"], True, _key(values), _type(values))
    else:
        new_id = await connection.scalar(INSERT_EVENT, values)
        if new_id is not None:
            return Ingested(new_id, values["status"], True, _key(values), _type(values))
    existing = (
        await connection.execute(FIND_EVENT, {"source": source, "event_id": event.event_id})
    ).one()
    if existing.payload_hash != values["payload_hash"]:
        raise _conflict(event.event_id, existing.id)
    return Ingested(existing.id, existing.status, False, _key(values), _type(values))


@dataclass(slots=True)
class BatchItem:
    index: int
    http_status: int
    ingested: Ingested | None = None
    errors: list[dict[str, str]] | None = None
    detail: str | None = None


async def ingest_batch(
    connection: AsyncConnection, source: str, raw_events: list[dict[str, Any]]
) -> list[BatchItem]:
    """Validate and store many events with one insert statement; each is answered on its own.

    An invalid item is reported and skipped; it never rejects the others. On an autocommit
    connection the valid events are durable, all together, when this returns. The rows go in
    sorted by event_id (the source is the caller's), so concurrent batches sharing event ids
    wait for each other in one order and never deadlock.
    """
    results: list[BatchItem] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(raw_events):
        try:
            event = EVENT_ADAPTER.validate_python(raw)
        except ValidationError as err:
            errors = validation_errors(err.errors(), EVENT_TYPES, prefix=f"/events/{index}")
            results.append(BatchItem(index, 422, errors=errors, detail="invalid event"))
            continue
        valid.append((index, row_values(source, event)))

    # A repeated event_id inside the batch is inserted once, as its first occurrence.
    first_by_event_id: dict[str, dict[str, Any]] = {}
    for _, values in valid:
        first_by_event_id.setdefault(values["event_id"], values)

    created: set[str] = set()
    if first_by_event_id:
        ordered = [first_by_event_id[eid] for eid in sorted(first_by_event_id)]
        made = set(first_by_event_id)
        for values in list(ordered):
            # Each derived once, however many of the batch's events imply it.
            for row in await derived_rows(connection, values, ordered):
                if row["event_id"] not in made:
                    made.add(row["event_id"])
                    ordered.append(row)
        ordered.sort(key=lambda v: str(v["event_id"]))
        rows = await connection.execute(INSERT_EVENTS.statement, INSERT_EVENTS.parameters(ordered))
        created = {r.event_id for r in rows}

    stored: dict[str, tuple[uuid.UUID, str, str]] = {}
    missing = [eid for eid in first_by_event_id if eid not in created]
    if missing:
        rows = await connection.execute(
            select(
                _events.c.event_id, _events.c.id, _events.c.status, _events.c.payload_hash
            ).where(_events.c.source == source, one_of(_events.c.event_id, missing))
        )
        stored = {r.event_id: (r.id, r.status, r.payload_hash) for r in rows}

    claimed: set[str] = set()
    for index, values in valid:
        eid = values["event_id"]
        first = first_by_event_id[eid]
        if eid in created:
            ident, status, digest = first["id"], first["status"], first["payload_hash"]
            is_new = eid not in claimed
            claimed.add(eid)
        else:
            ident, status, digest = stored[eid]
            is_new = False
        if digest != values["payload_hash"]:
            results.append(BatchItem(index, 409, detail=_conflict(eid, ident).detail))
            continue
        ingested = Ingested(ident, status, is_new, _key(values), _type(values))
        results.append(BatchItem(index, 202 if is_new else 200, ingested=ingested))
    results.sort(key=lambda item: item.index)
    return results


# The retried event back to pending, and with it every event that died because of its
# record (category `dependency`, `parent` naming the record), and theirs, transitively:
# one statement, so that they go back together or not at all.
RETRY_WITH_DEPENDENTS = text(
    """
WITH RECURSIVE retried AS (
    UPDATE events SET status = 'pending', attempts = 0, replays = replays + 1,
        failing_since = NULL, waiting_for = NULL, next_attempt_at = :now, updated_at = :now
    WHERE id = :id AND status = 'dead'
        AND (CAST(:source AS text) IS NULL OR source = CAST(:source AS text))
    RETURNING realm_id, entity_type, external_id
), dependents(id, realm_id, record) AS (
    -- Seeded with the retried record (no event id); `record` is the engine's waiting_key.
    SELECT CAST(NULL AS uuid), r.realm_id, r.entity_type || ':' || r.external_id FROM retried r
    UNION
    SELECT e.id, e.realm_id, e.entity_type || ':' || e.external_id
    FROM events e JOIN dependents d ON e.realm_id = d.realm_id
        AND e.last_error ->> 'parent' = d.record
    WHERE e.status = 'dead' AND e.id <> :id AND e.last_error ->> 'category' = 'dependency'
), revived AS (
    UPDATE events SET status = 'pending', attempts = 0, replays = replays + 1,
        failing_since = NULL, waiting_for = NULL, next_attempt_at = :now, updated_at = :now,
        note = CAST(:note AS text)
    WHERE id IN (SELECT id FROM dependents WHERE id IS NOT NULL)
    RETURNING realm_id, entity_type, external_id
)
SELECT realm_id, entity_type, external_id, true AS retried FROM retried
UNION ALL
SELECT realm_id, entity_type, external_id, false AS retried FROM revived
"""
)


async def retry_dead_event(
    connection: AsyncConnection, event_id: uuid.UUID, source: str | None = None
) -> list[EntityKey]:
    """Send a dead event back to `pending` (attempts restart; its last error stays for context),
    and with it the events that died because of its record (category `dependency`, naming
    that record as their parent), and theirs: they wait for it again and follow it.

    One statement, so two concurrent retries cannot both succeed. Returns the records to
    hint, the retried event's first; empty when the event does not exist, is not dead, or
    (with `source`) is another source's.
    """
    result = (
        await connection.execute(
            RETRY_WITH_DEPENDENTS,
            {
                "id": event_id,
                "now": utcnow(),
                "source": source,
                "note": f"sent back to pending with the retry of event {event_id}",
            },
        )
    ).all()
    rows = sorted(result, key=lambda r: not r.retried)
    if not rows or not rows[0].retried:
        return []
    keys = [EntityKey(r.realm_id, r.entity_type, r.external_id) for r in rows]
    return list(dict.fromkeys(keys))
