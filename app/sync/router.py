"""HTTP routes that show what the engine sends: an event's next (or last) QBO request, and
what an event would do before it is sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from sqlalchemy import select

from app.connections.reading import realm_pdf, realm_query
from app.connections.refresh import RefreshFailed
from app.deps import Caller, EventsReader, EventsWriter, SessionDep, SettingsDep
from app.errors import Conflict, NotFound, TryLater, problem_responses
from app.events import repository
from app.events.models import Event
from app.events.schemas import EventIn
from app.events.service import row_values
from app.mappings import repository as mapping_store
from app.qbo import BudgetWait, QboError
from app.sync.company import CompanyLookups
from app.sync.owned import QBO_ENTITIES
from app.sync.preview import OPEN_STATUSES, BudgetedReader, Prediction, predict
from app.sync.schemas import DuplicateOf, PreviewOut, QboRequest, ValidationOut

router = APIRouter(prefix="/events", tags=["events"])
documents = APIRouter(prefix="/documents", tags=["events"])
# The sales forms QBO renders as PDF.
PDF_DOCUMENTS = ("invoice", "credit_memo", "sales_receipt")

# As every route of intake and status, and a company's QBO that cannot be read now.
ERRORS = (400, 401, 403, 413, 422)


@asynccontextmanager
async def reading_company() -> AsyncIterator[None]:
    """A company's QBO that cannot be read now as a 429 with Retry-After (a spent budget,
    throttling, a failed token refresh, QBO busy), and a read QBO refuses as a 409."""
    try:
        yield
    except BudgetWait as err:
        raise TryLater(
            f"the company's QuickBooks request budget is spent for {err.seconds:.0f} s;"
            " try again after that",
            err.seconds,
        ) from None
    except RefreshFailed as err:
        raise TryLater(
            f"Intuit could not refresh the company's token ({err.failure.error}); try again"
            " shortly",
            30,
        ) from None
    except QboError as err:
        if err.retryable:
            raise TryLater(f"QuickBooks could not be read now ({err})", err.retry_after) from None
        raise Conflict(f"QuickBooks refused to read the company's lists ({err})") from None


async def _predict(
    request: Request, session: SessionDep, settings: SettingsDep, event: Event, *, stored: bool
) -> Prediction:
    """The prediction of `event`, the company's lists read within its realm's budget."""
    lookups: CompanyLookups = request.app.state.company_lookups
    reader = BudgetedReader(event.realm_id, realm_query(request.app.state, event.realm_id))
    async with reading_company():
        return await predict(session, event, settings, lookups, reader, stored=stored)


def _why(prediction: Prediction) -> dict[str, Any]:
    return {
        "reason": prediction.reason,
        "field": prediction.field,
        "waiting_for": prediction.waiting_for,
        "waiting_event_id": prediction.waiting_event,
        "waiting_event_status": prediction.waiting_status,
    }


def _readable(caller: Caller, event: Event) -> bool:
    """As GET /events/{id}: its own source's events, or any with events:read_all."""
    return caller.reads_all_sources or event.source == caller.name


@router.get(
    "/{event_id:uuid}/preview",
    response_model=PreviewOut,
    responses=problem_responses(*ERRORS, 404, 409, 429),
    summary="The QBO request an event would send now, or sent last",
)
async def preview_event(
    request: Request,
    event_id: uuid.UUID,
    caller: EventsReader,
    session: SessionDep,
    settings: SettingsDep,
) -> PreviewOut:
    """For an event not final yet (pending, syncing, retrying, waiting_*), `source: next`:
    the request the engine would send now (method, path, query with its requestid, body),
    built as the engine builds it, sending nothing; for a synced, dead or superseded one,
    `source: sent`: the last request sent for it (null when none was).

    An event that cannot be built now is answered 200 all the same, with `request` null,
    `outcome` saying why (wait, refused, not_connected, superseded), `reason`, the event's
    `field` at fault and what it waits for. 404 for an unknown event or another source's
    (without `events:read_all`), as GET /events/{id}; 429 with Retry-After when the
    company's lists cannot be read now (its QBO request budget is spent, QBO throttles);
    409 when QBO refuses to read them."""
    event = await repository.get_event(session, event_id)
    if event is None or not _readable(caller, event):
        raise NotFound(f"no event {event_id}")
    if event.status not in OPEN_STATUSES:
        sent = event.sent_request
        return PreviewOut(
            id=event.id,
            status=event.status,
            source="sent",
            request=QboRequest.model_validate(sent) if sent else None,
            reason=None if sent else _nothing_sent(event),
        )
    prediction = await _predict(request, session, settings, event, stored=True)
    return PreviewOut(
        id=event.id,
        status=event.status,
        source="next",
        outcome=prediction.verdict,
        request=QboRequest.model_validate(prediction.request) if prediction.request else None,
        **_why(prediction),
    )


def _nothing_sent(event: Event) -> str:
    why = (event.last_error or {}).get("message") or event.note
    return f"nothing was sent to QBO for this event ({why})" if why else "nothing was sent"


@router.post(
    "/validate",
    response_model=ValidationOut,
    responses=problem_responses(*ERRORS, 409, 429),
    summary="What one event would do in QBO, storing nothing",
)
async def validate_event(
    request: Request,
    event: Annotated[EventIn, Body()],
    caller: EventsWriter,
    session: SessionDep,
    settings: SettingsDep,
) -> ValidationOut:
    """Check an event (the body of POST /events, refused with the same 422 answers)
    against its company as it is now: its connection, settings and preferences, the
    records' mappings, and the lists a body names (terms, classes, departments, tax
    codes, payment methods; read within the company's QBO request budget). Answers what
    would happen, `outcome`: create or update with the `request` the engine would send;
    wait, naming what for; refused, with QBO-bound `reason` and the `field` at fault; or
    not_connected. `duplicate` is set when this key already sent this event_id.

    Stores nothing: no event, no hint, no mapping, no callback. 429 with Retry-After when
    the company's lists cannot be read now; 409 when QBO refuses to read them."""
    values = row_values(caller.name, event)
    candidate = Event(**values)  # never added to the session: nothing is stored
    prediction = await _predict(request, session, settings, candidate, stored=False)
    stored = await repository.event_of_caller(session, caller.name, event.event_id)
    duplicate = None
    if stored is not None:
        same = stored.payload_hash == values["payload_hash"]
        duplicate = DuplicateOf(id=stored.id, status=stored.status, same_body=same)
    return ValidationOut(
        outcome=prediction.verdict.value,  # never superseded: nothing stored precedes it
        request=QboRequest.model_validate(prediction.request) if prediction.request else None,
        duplicate=duplicate,
        **_why(prediction),
    )


@documents.get(
    "/{entity_type}/{external_id}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The document as QBO renders it."},
        **problem_responses(*ERRORS, 404, 409, 429),
    },
)
async def document_pdf(
    request: Request,
    caller: EventsReader,
    session: SessionDep,
    entity_type: Annotated[str, Path(pattern="^(" + "|".join(PDF_DOCUMENTS) + ")$")],
    external_id: Annotated[str, Path(pattern=r"^[\x21-\x7e]{1,100}$")],
    realm_id: Annotated[str, Query(pattern=r"^[0-9]{1,32}$")],
) -> Response:
    """The QBO-rendered PDF of a synced invoice, credit memo or sales receipt, fetched from
    QBO within the company's request budget. 404 until the document is synced."""
    if not caller.reads_all_sources:
        # As events: a key sees the documents of its own events.
        own = await session.scalar(
            select(Event.id)
            .where(
                Event.realm_id == realm_id,
                Event.entity_type == entity_type,
                Event.external_id == external_id,
                Event.source == caller.name,
            )
            .limit(1)
        )
        if own is None:
            raise NotFound(f"no {entity_type} {external_id!r} of realm {realm_id} of this key")
    mapping = await mapping_store.mapping_of(session, realm_id, entity_type, external_id)
    if mapping is None:
        raise NotFound(f"{entity_type} {external_id!r} of realm {realm_id} is not synced yet")
    if mapping.qbo_last_write == "Delete":
        raise NotFound(f"{entity_type} {external_id!r} of realm {realm_id} was deleted in QBO")
    fetch = realm_pdf(request.app.state, realm_id)
    async with reading_company():
        content = await fetch(QBO_ENTITIES[entity_type], mapping.qbo_id)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{entity_type}-{mapping.qbo_id}.pdf"'},
    )
