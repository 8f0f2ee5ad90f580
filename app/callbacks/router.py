"""HTTP routes of callbacks: a source's callback URL and secret, and its deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.callbacks import service
from app.callbacks.models import DeliveryStatus, NoticeKind
from app.callbacks.schemas import AttemptOut, CallbackIn, CallbackOut, DeliveryOut, DeliveryPage
from app.callbacks.targets import TargetRefused, check_registration, redact_url
from app.deps import EventsReader, EventsWriter, SessionDep, SettingsDep, UnitOfWorkDep
from app.errors import (
    InvalidInput,
    NotFound,
    bad_cursor,
    problem_responses,
    reject_unknown_parameters,
)

router = APIRouter(prefix="/callbacks", tags=["callbacks"])

NO_CALLBACK = "this API key's source has no callback; PUT /callbacks sets one"


def _out(callback: Any) -> CallbackOut:
    return CallbackOut(
        url=redact_url(callback.url),
        created_at=callback.created_at,
        updated_at=callback.updated_at,
    )


@router.put(
    "",
    response_model=CallbackOut,
    responses=problem_responses(401, 403, 422, 400, 413),
    summary="Set the callback of this API key's source",
)
async def put_callback(
    request: Request,
    body: CallbackIn,
    caller: EventsWriter,
    settings: SettingsDep,
    uow: UnitOfWorkDep,
) -> CallbackOut:
    """Notices about this key's events (and about connections) are POSTed to `url`, signed
    with `secret`. Replaces an earlier callback; pending notices go to the new one.

    `url` may not carry a user name or password, and may not reach loopback, private,
    link-local (cloud metadata), unique-local, multicast or reserved addresses, by IP or by
    what its name resolves to (422 naming `/url`); CALLBACK_ALLOWED_HOSTS names exceptions.
    Every delivery checks the addresses again when it connects."""
    try:
        await check_registration(
            body.url, settings.callback_targets, request.app.state.callback_resolver
        )
    except TargetRefused as err:
        raise InvalidInput([{"pointer": "/url", "detail": str(err)}]) from None
    callback = await service.set_callback(
        uow.session, caller.name, body.url, body.secret, request.app.state.cipher
    )
    return _out(callback)


@router.get(
    "",
    response_model=CallbackOut,
    responses=problem_responses(401, 403, 422, 404),
    summary="The callback of this API key's source (never its secret)",
)
async def get_callback(request: Request, caller: EventsWriter, session: SessionDep) -> CallbackOut:
    reject_unknown_parameters(request.query_params, ())
    callback = await service.get_callback(session, caller.name)
    if callback is None:
        raise NotFound(NO_CALLBACK)
    return _out(callback)


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 422, 404),
    summary="Remove the callback; its pending notices fail",
)
async def delete_callback(request: Request, caller: EventsWriter, uow: UnitOfWorkDep) -> Response:
    """No more notices are queued for this source; pending ones become `failed`
    ("callback removed"). Past deliveries stay listed."""
    reject_unknown_parameters(request.query_params, ())
    removed = await service.remove_callback(uow.session, caller.name)
    if not removed:
        raise NotFound(NO_CALLBACK)
    return Response(status_code=204)


LIST_PARAMETERS = frozenset({"status", "kind", "limit", "cursor"})


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    responses=problem_responses(401, 403, 422),
    summary="Notices to this API key's source, newest first, with every attempt",
)
async def list_deliveries(
    request: Request,
    caller: EventsReader,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    kind: NoticeKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
) -> DeliveryPage:
    """Filter by `status` and `kind`; pass `next_cursor` back as `cursor` for the next page."""
    reject_unknown_parameters(request.query_params, LIST_PARAMETERS)
    filters = service.DeliveryFilter(
        source=caller.name,
        status=status.value if status else None,
        kind=kind.value if kind else None,
    )
    try:
        rows, next_cursor = await service.list_deliveries(session, filters, limit, cursor)
    except ValueError:
        raise bad_cursor() from None
    items = [
        DeliveryOut(
            id=d.id,
            kind=d.kind,
            status=d.status,
            attempts=d.attempts,
            created_at=d.created_at,
            next_attempt_at=(d.next_attempt_at if d.status == DeliveryStatus.PENDING else None),
            delivered_at=d.delivered_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            data=d.payload,
            attempt_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
        )
        for d, attempts in rows
    ]
    return DeliveryPage(items=items, next_cursor=next_cursor)
