"""What the engine would send for an event now, without sending it or taking the event.

`next_request` is the request of a Work's next write, built by the Applier's own builders
(`upsert_body`, `token_write`) with the requestid the engine would use; `planned_work` reads
what step 1 (app.sync.selection) would decide, changing nothing; `predict` puts the two
together into a `Prediction`: the write (create or update) and its request, or why there
is none now (it waits, is refused, or the company is not connected).

The company's lists a body needs are read through a `CompanyReader` the caller hands in:
for the API, `BudgetedReader` over app.connections.reading, within the realm's budget.
A prediction is the first try's: a lost answer's look-up (adoption), a stale SyncToken
(5010) or a name QBO already holds (6240) may make the engine send more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections import service as connection_service
from app.connections.models import ConnectionStatus
from app.connections.reference import Query
from app.connections.refresh import ConnectionUnavailable
from app.connections.settings_store import effective_settings
from app.core.keys import EntityKey
from app.events import lifecycle as event_store
from app.events.lifecycle import waiting_key
from app.events.models import Event, EventStatus
from app.mappings import repository as mapping_store
from app.sync.apply import token_write, upsert_body
from app.sync.blockers import earlier_references
from app.sync.company import CompanyLookups, CompanyReader, company_context
from app.sync.dependencies import SALES_FORMS, parents_of
from app.sync.ordering import plan
from app.sync.payloads import PayloadError, sparse_update
from app.sync.realm import send_request, write_request
from app.sync.selection import target_of, work_of
from app.sync.work import Json, Work

# Still ahead of the engine: a preview is of the write it would send next.
OPEN_STATUSES = frozenset(
    {
        EventStatus.PENDING,
        EventStatus.SYNCING,
        EventStatus.RETRYING,
        EventStatus.WAITING_DEPENDENCY,
        EventStatus.WAITING_CONNECTION,
    }
)


class Verdict(StrEnum):
    """What the engine would do with an event now."""

    CREATE = "create"  # create the record in QBO
    UPDATE = "update"  # write to the record it is mapped to (update, deactivate, void, delete)
    WAIT = "wait"  # for a parent not in QBO yet, or an event that goes first
    REFUSED = "refused"  # no body the company accepts (the event would die)
    NOT_CONNECTED = "not_connected"  # the company is not connected (the event would wait)
    SUPERSEDED = "superseded"  # a newer event of the record makes it moot (stored events)


@dataclass(frozen=True, slots=True)
class Prediction:
    verdict: Verdict
    request: Json | None = None  # as `write_request` shapes it: the write it would send
    reason: str | None = None  # why there is no request
    field: str | None = None  # the JSON pointer of the event's field at fault
    waiting_for: str | None = None  # `<entity type>:<external id>` it waits for
    waiting_event: uuid.UUID | None = None  # the open event it waits for, if any
    waiting_status: str | None = None  # ... and its status


@dataclass(frozen=True, slots=True)
class BudgetedReader:
    """A company's QBO as the lookups read it, through a budgeted query of the API
    (app.connections.reading.realm_query)."""

    realm_id: str
    run: Query

    async def query(self, statement: str) -> list[dict[str, Any]]:
        return await self.run(statement)


async def next_request(
    work: Work,
    realm_id: str,
    minor_version: int | str,
    lookups: CompanyLookups,
    reader: CompanyReader,
) -> Json:
    """The request the engine would send for `work` now (`write_request`'s shape): an
    upsert's create when the record has no mapping, else its sparse update at the stored
    SyncToken; a deactivation, void or delete at that SyncToken; each with the engine's
    requestid. Sends nothing; reads only the company's lists a body needs, through
    `reader`. Raises PayloadError, and what `reader` raises."""
    if work.operation == "upserted":
        body = await upsert_body(work, lookups, reader)
        target = work.target
        if target is None:
            return write_request(realm_id, minor_version, work.entity, body, work.rid("create"))
        update = sparse_update(body, target.qbo_id, target.sync_token)
        rid = work.rid_at("update", target.sync_token)
        return write_request(realm_id, minor_version, work.entity, update, rid)
    if work.operation == "sent" and work.target is not None:
        to = work.payload["data"].get("to")
        return send_request(realm_id, minor_version, work.entity, work.target.qbo_id, to)
    target, write = token_write(work)
    body = write.build(target.qbo_id, target.sync_token)
    rid = work.rid_at(write.what, target.sync_token)
    return write_request(realm_id, minor_version, work.entity, body, rid, write.operation)


async def planned_work(
    session: AsyncSession, event: Event, env: Settings, *, stored: bool = True
) -> Work | Prediction:
    """The Work step 1 would build for `event` now, or the Prediction of why it would
    build none: the company not connected, the event behind (or superseded by) another of
    its record (`stored` events), a parent without a QBO id, an earlier event that goes
    first. Reads only; takes no lock."""
    connection = await connection_service.get_connection(session, event.realm_id)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        state = connection.status.value.replace("_", " ") if connection else "not connected"
        return Prediction(
            Verdict.NOT_CONNECTED,
            reason=f"company {event.realm_id} is {state}: the event waits for a (re)connect",
        )
    settings = await effective_settings(session, event.realm_id, env)
    try:
        context = company_context(connection, settings)
    except PayloadError as err:
        return Prediction(Verdict.NOT_CONNECTED, reason=str(err))
    mapping = await mapping_store.mapping_of(
        session, event.realm_id, event.entity_type, event.external_id
    )
    if stored:
        behind = await _behind(session, event, mapping.last_event_id if mapping else None)
        if behind is not None:
            return behind
    target = target_of(mapping)
    parents = parents_of(event)
    if target is None and event.operation != "upserted":
        parents = [(event.entity_type, event.external_id)]  # waits for its record's create
    refs = await mapping_store.qbo_ids_of(session, event.realm_id, parents)
    for parent in parents:
        if parent not in refs:
            return await _missing_parent(session, event, parent, env)
    blockers = await earlier_references(session, event)
    if blockers:
        first = blockers[0]
        return Prediction(
            Verdict.WAIT,
            reason=(
                f"waits for event {first.id} ({first.entity_type}.{first.operation} of "
                f"{first.entity_type} {first.external_id!r}), which comes first"
            ),
            waiting_for=waiting_key(first.entity_type, first.external_id),
            waiting_event=first.id,
        )
    return work_of(event, target, refs, context, settings)


async def predict(
    session: AsyncSession,
    event: Event,
    env: Settings,
    lookups: CompanyLookups,
    reader: CompanyReader,
    *,
    stored: bool = True,
) -> Prediction:
    """What the engine would do with `event` now, and the request it would send (see
    `planned_work` and `next_request`). Stores nothing. Raises what `reader` raises but
    ConnectionUnavailable (a NOT_CONNECTED prediction)."""
    work = await planned_work(session, event, env, stored=stored)
    if isinstance(work, Prediction):
        return work
    try:
        request = await next_request(work, event.realm_id, env.qbo_minor_version, lookups, reader)
        await _check_tax_code_ids(work, lookups, reader)
    except PayloadError as err:
        return Prediction(Verdict.REFUSED, reason=str(err), field=err.field)
    except ConnectionUnavailable as err:
        return Prediction(Verdict.NOT_CONNECTED, reason=str(err))
    created = work.operation == "upserted" and work.target is None
    return Prediction(Verdict.CREATE if created else Verdict.UPDATE, request)


async def _behind(
    session: AsyncSession, event: Event, last_event_id: uuid.UUID | None
) -> Prediction | None:
    """Why a stored event is not its record's next (app.sync.ordering), or None."""
    due = await event_store.due_events_of(
        session, EntityKey(event.realm_id, event.entity_type, event.external_id)
    )
    if not any(e.id == event.id for e in due):
        return None  # parked for its connection: the engine takes it up as it is
    last_applied = None
    if last_event_id is not None:
        last_applied = await event_store.occurred_at_of(session, last_event_id)
    chosen = plan(due, last_applied)
    for event_id, why in chosen.superseded:
        if event_id == event.id:
            return Prediction(Verdict.SUPERSEDED, reason=why)
    first = chosen.next
    if first is None or first.id == event.id:
        return None
    return Prediction(
        Verdict.WAIT,
        reason=f"waits for event {first.id} of the same record, which goes first",
        waiting_for=waiting_key(event.entity_type, event.external_id),
        waiting_event=first.id,
        waiting_status=str(first.status),
    )


async def _missing_parent(
    session: AsyncSession, event: Event, parent: tuple[str, str], env: Settings
) -> Prediction:
    """The wait for a parent without a QBO id, naming its latest event (app.sync.
    dependencies decides the same way: a dead parent kills the event)."""
    kind, ext = parent
    own = parent == (event.entity_type, event.external_id)
    what = f"its create ({kind} {ext!r})" if own else f"{kind} {ext!r}"
    latest = await event_store.latest_event_of(
        session,
        EntityKey(event.realm_id, kind, ext),
        besides=event.id,
        upserted_until=event.occurred_at if own else None,
    )
    key = waiting_key(kind, ext)
    if latest is None or latest.status in (EventStatus.SYNCED, EventStatus.SUPERSEDED):
        minutes = env.dependency_timeout_minutes
        return Prediction(
            Verdict.WAIT,
            reason=(
                f"waits for {what}: not in QBO, and no open event of it has arrived (the "
                f"event dies if none arrives within {minutes:g} minutes)"
            ),
            waiting_for=key,
        )
    if latest.status == EventStatus.DEAD:
        message = (latest.last_error or {}).get("message") or "no reason recorded"
        return Prediction(
            Verdict.REFUSED,
            reason=f"{what} failed and was not synced: {message}",
            waiting_for=key,
            waiting_event=latest.id,
            waiting_status=str(latest.status),
        )
    return Prediction(
        Verdict.WAIT,
        reason=f"waits for {what}, whose event {latest.id} is {latest.status}",
        waiting_for=key,
        waiting_event=latest.id,
        waiting_status=str(latest.status),
    )


async def _check_tax_code_ids(work: Work, lookups: CompanyLookups, reader: CompanyReader) -> None:
    """Outside the US the engine sends a tax code given by Id as it is, unread, and QBO
    refuses one the company lacks (or has made inactive): the prediction looks first, and
    refuses it naming the field. Raises PayloadError."""
    if work.entity_type not in SALES_FORMS or work.operation != "upserted" or work.context.is_us:
        return
    data = work.payload["data"]
    named = {
        f"/data/lines/{i}/tax_code": line.get("tax_code") for i, line in enumerate(data["lines"])
    }
    named["/data/shipping/tax_code"] = (data.get("shipping") or {}).get("tax_code")
    named["/data/tax_code"] = data.get("tax_code")
    ids = {pointer: str(code).strip() for pointer, code in named.items() if code}
    ids = {pointer: code for pointer, code in ids.items() if code.isdigit()}
    if not ids:
        return
    codes = await lookups.name_list(reader, "TaxCode", ids.values())
    for pointer, code in ids.items():
        if f"id:{code}" not in codes:
            raise PayloadError(
                f"tax code {code!r} is not one of the company's active tax codes", pointer
            )
