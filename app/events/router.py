"""HTTP routes of event intake and event status."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Query, Request, Response
from fastapi.responses import JSONResponse

from app.core.metrics import EVENTS_INGESTED
from app.deps import (
    Caller,
    ConnectionDep,
    EventsReader,
    EventsWriter,
    SessionDep,
    SettingsDep,
    UnitOfWorkDep,
)
from app.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    bad_cursor,
    problem_responses,
    reject_unknown_parameters,
)
from app.events import repository, service
from app.events.models import DUE_STATUSES, Event, EventStatus
from app.events.schemas import (
    BatchIn,
    BatchItemResult,
    BatchOut,
    EventAccepted,
    EventError,
    EventIn,
    EventOut,
    EventPage,
    Links,
    Mismatch,
)
from app.security import Scope

router = APIRouter(prefix="/events", tags=["events"])

# Every route of intake and status may answer these.
ERRORS = (400, 401, 403, 413, 422)


async def count_ingested(request: Request, types: list[str]) -> None:
    for kind in types:
        await request.app.state.metrics.incr(EVENTS_INGESTED, {"type": kind})


def _link(request: Request, ident: uuid.UUID) -> Links:
    return Links(self=str(request.url_for("get_event", event_id=str(ident)).path))


def readable(caller: Caller, event: Event) -> bool:
    """Whether `caller` may see `event`: its own source's, or any with events:read_all."""
    return caller.reads_all_sources or event.source == caller.name


def to_out(request: Request, event: Event) -> EventOut:
    error = EventError.model_validate(event.last_error) if event.last_error else None
    return EventOut(
        id=event.id,
        source=event.source,
        event_id=event.event_id,
        realm_id=event.realm_id,
        type=event.type,
        entity_type=event.entity_type,
        external_id=event.external_id,
        status=event.status,
        attempts=event.attempts,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        updated_at=event.updated_at,
        # When the event is looked at next; nothing is planned for ended or parked ones.
        next_attempt_at=event.next_attempt_at if event.status in DUE_STATUSES else None,
        synced_at=event.synced_at,
        qbo_id=event.qbo_id,
        last_error=error,
        waiting_for=event.waiting_for if event.status == "waiting_dependency" else None,
        note=event.note,
        mismatch=Mismatch.model_validate(event.mismatch) if event.mismatch else None,
        links=_link(request, event.id),
    )


@router.post(
    "",
    status_code=202,
    response_model=EventAccepted,
    responses={
        **problem_responses(*ERRORS),
        200: {"model": EventAccepted, "description": "Already accepted"},
        **problem_responses(409),
    },
    summary="Accept one event",
)
async def post_event(
    request: Request,
    event: Annotated[EventIn, Body()],
    caller: EventsWriter,
    connection: ConnectionDep,
    uow: UnitOfWorkDep,
    background: BackgroundTasks,
) -> JSONResponse:
    """Store the event (durable before the answer) and hint a worker.

    202 for a new event; 200 with the original for a repeat of the same body; 409 when the
    event_id was used with a different body.
    """
    # An autocommit session: the row is durable once the insert returns, before the answer.
    ingested = await service.ingest_event(connection, caller.name, event)
    if ingested.created:
        uow.hint_sync([ingested.key])
        background.add_task(count_ingested, request, [ingested.type])
    body = EventAccepted(id=ingested.id, status=ingested.status, links=_link(request, ingested.id))
    return JSONResponse(body.model_dump(mode="json"), status_code=202 if ingested.created else 200)


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=problem_responses(*ERRORS),
    summary="Accept up to BATCH_MAX_EVENTS events, each answered on its own",
)
async def post_batch(
    request: Request,
    batch: BatchIn,
    caller: EventsWriter,
    connection: ConnectionDep,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> BatchOut:
    """One transaction for the valid events; an invalid or conflicting one never blocks others."""
    if len(batch.events) > settings.batch_max_events:
        raise InvalidInput(
            [{"pointer": "/events", "detail": f"at most {settings.batch_max_events} events"}]
        )
    # One multi-row insert statement: atomic and durable before the answer (autocommit).
    items = await service.ingest_batch(connection, caller.name, batch.events)
    new = [i.ingested for i in items if i.ingested and i.ingested.created]
    created = [i.key for i in new]
    if created:
        uow.hint_sync(created)
        background.add_task(count_ingested, request, [i.type for i in new])
    results = [
        BatchItemResult(
            index=i.index,
            status=i.http_status,
            id=i.ingested.id if i.ingested else None,
            event_status=i.ingested.status if i.ingested else None,
            links=_link(request, i.ingested.id) if i.ingested else None,
            errors=i.errors,
            detail=i.detail,
        )
        for i in items
    ]
    return BatchOut(
        accepted=sum(1 for r in results if r.status == 202),
        duplicates=sum(1 for r in results if r.status == 200),
        rejected=sum(1 for r in results if r.status >= 400),
        results=results,
    )


@router.post(
    "/{event_id:uuid}/retry",
    response_model=EventOut,
    responses=problem_responses(*ERRORS, 404, 409),
    summary="Send a dead event back to pending",
)
async def retry_event(
    request: Request,
    event_id: uuid.UUID,
    caller: EventsWriter,
    uow: UnitOfWorkDep,
) -> EventOut:
    """Replay a dead event of this key's source (after fixing its cause), and with it the
    events that died because of its record (category `dependency`); 409 when it is not dead.
    Another source's event is 404, whatever the key's scopes: retrying is its sender's
    business (ops retry any event from the console)."""
    connection = await uow.session.connection()
    keys = await service.retry_dead_event(connection, event_id, source=caller.name)
    event = await repository.get_event(uow.session, event_id)
    if event is None or event.source != caller.name:
        raise NotFound(f"no event {event_id}")
    if not keys:
        raise Conflict(f"only dead events can be retried; this one is {event.status}")
    uow.hint_sync(keys)
    return to_out(request, event)


@router.get("/{event_id:uuid}", response_model=EventOut, responses=problem_responses(*ERRORS, 404))
async def get_event(
    request: Request, event_id: uuid.UUID, caller: EventsReader, session: SessionDep
) -> EventOut:
    """Status, attempts, last error and QBO id of one event of this key's source (any
    source's with `events:read_all`); another source's event is 404, as if it did not
    exist."""
    event = await repository.get_event(session, event_id)
    if event is None or not readable(caller, event):
        raise NotFound(f"no event {event_id}")
    return to_out(request, event)


LIST_PARAMETERS = frozenset(
    {"status", "realm_id", "entity_type", "external_id", "source", "limit", "cursor"}
)


@router.get("", response_model=EventPage, responses=problem_responses(*ERRORS))
async def list_events(
    request: Request,
    response: Response,
    caller: EventsReader,
    session: SessionDep,
    status: EventStatus | None = None,
    realm_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,32}$")] = None,
    entity_type: Annotated[
        str | None,
        Query(
            pattern="^(customer|item|invoice|payment|credit_memo|sales_receipt|refund|applied_credit)$"
        ),
    ] = None,
    external_id: Annotated[str | None, Query(pattern=r"^[\x21-\x7e]{1,100}$")] = None,
    source: Annotated[str | None, Query(pattern=r"^[^\x00-\x1f]{1,100}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
) -> EventPage:
    """Events newest first, filtered; pass `next_cursor` back as `cursor` for the next page.

    Only this key's source's events, unless the key holds `events:read_all`; `source` naming
    another source is 403 for a key without it (whether that source exists or not)."""
    reject_unknown_parameters(request.query_params, LIST_PARAMETERS)
    if not caller.reads_all_sources:
        if source is not None and source != caller.name:
            raise Forbidden(
                f"this API key reads only its own events (source {caller.name!r}); "
                f"the scope {Scope.EVENTS_READ_ALL.value!r} reads every source"
            )
        source = caller.name
    filters = repository.EventFilter(
        status=status.value if status else None,
        realm_id=realm_id,
        entity_type=entity_type,
        external_id=external_id,
        source=source,
    )
    try:
        rows, next_cursor = await repository.list_events(session, filters, limit, cursor)
    except ValueError:
        raise bad_cursor() from None
    return EventPage(items=[to_out(request, e) for e in rows], next_cursor=next_cursor)
