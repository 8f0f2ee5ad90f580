"""HTTP routes for connecting QBO companies."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from app.connections import company_settings, service
from app.connections import reference as reference_lists
from app.connections.models import Connection, ConnectionStatus
from app.connections.pages import page
from app.connections.reading import realm_query
from app.connections.reference import ReferenceKind
from app.connections.refresh import ConnectionUnavailable, RefreshFailed
from app.connections.schemas import (
    ConnectionOut,
    ConnectionStarted,
    Disconnected,
    ReferenceListOut,
    ReferenceRowOut,
    SettingChangeOut,
    SettingsHistoryPage,
    SettingsOut,
    settings_out,
)
from app.connections.settings import CompanySettings
from app.core.cipher import TokenCipher
from app.core.failures import Category
from app.deps import ConnectionsAdmin, SessionDep, SettingsDep, UnitOfWorkDep
from app.errors import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    bad_cursor,
    problem_responses,
    reject_unknown_parameters,
)
from app.qbo import (
    BudgetWait,
    IntuitOAuth,
    LazyOAuth,
    OAuthFailure,
    QboError,
    read_company,
)

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/connections", tags=["connections"])


class RealmConvertor(Convertor[str]):
    """Realm ids are digits: so `/connections/callback` never reads as a realm."""

    regex = "[0-9]{1,32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("realm", RealmConvertor())


async def get_oauth(request: Request) -> IntuitOAuth:
    """Intuit's OAuth client; 503 while its discovery document cannot be read."""
    provider: LazyOAuth = request.app.state.oauth
    try:
        return await provider.get()
    except OAuthFailure as err:
        raise ServiceUnavailable("Intuit's discovery document could not be read") from err


def get_cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.cipher
    return cipher


OAuthDep = Annotated[IntuitOAuth, Depends(get_oauth)]
CipherDep = Annotated[TokenCipher, Depends(get_cipher)]


@router.post(
    "",
    status_code=201,
    response_model=ConnectionStarted,
    responses=problem_responses(401, 403, 422, 503),
)
async def start(caller: ConnectionsAdmin, oauth: OAuthDep, uow: UnitOfWorkDep) -> ConnectionStarted:
    """Begin connecting a company: open `authorization_url` in a browser within 10 minutes."""
    started = await service.start_connection(uow.session, oauth, caller.name)
    return ConnectionStarted(
        authorization_url=started.authorization_url,
        state=started.state,
        expires_at=started.expires_at,
    )


HTML_PAGE: dict[str, Any] = {"content": {"text/html": {}}, "description": "A page saying why"}


@router.get(
    "/callback",
    response_class=HTMLResponse,
    summary="Where Intuit sends the browser back",
    responses={
        400: HTML_PAGE,
        403: HTML_PAGE,
        **problem_responses(422),
        502: HTML_PAGE,
        **problem_responses(503),
    },
)
async def callback(
    request: Request,
    settings: SettingsDep,
    oauth: OAuthDep,
    cipher: CipherDep,
    uow: UnitOfWorkDep,
    background: BackgroundTasks,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=2000)] = "",
    realm_id: Annotated[str, Query(alias="realmId", max_length=32)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """No API key: the state is the proof. Unknown, expired or used states change nothing,
    and neither does a state whose starting key was revoked or lost connections:admin since
    (403; the state is spent all the same)."""
    try:
        started_by = await service.consume_state(uow.session, state)
    except service.InvalidState as err:
        return page("This link cannot be used", str(err), 400)
    refused = await service.starter_refusal(uow.session, started_by)
    # The state is spent now, whatever Intuit answers below.
    await uow.commit()
    if refused is not None:
        return page("Not connected", refused, 403)
    if error:
        message = "Access was denied in QuickBooks; nothing was connected."
        return page("Not connected", message if error == "access_denied" else error, 400)
    if not code or not realm_id.isdigit():
        return page("Not connected", "Intuit's answer lacked the code or company id.", 400)
    try:
        tokens = await oauth.exchange_code(code, realm_id=realm_id)
        profile = await read_company(
            settings,
            realm_id,
            tokens.access_token,
            request.app.state.qbo_transport,
            request.app.state.budget,
            request.app.state.metrics,
            getattr(request.app.state, "meter", None),
        )
    except BudgetWait as err:
        message = f"The company's QuickBooks request budget is spent for {err.seconds:.0f} s."
        return page("Not connected yet", f"{message} Start again after that.", 503)
    except (OAuthFailure, QboError) as err:
        logger.warning(
            "connecting realm %s failed: %s",
            realm_id,
            err,
            extra={"realm_id": realm_id, "intuit_tid": err.intuit_tid},
        )
        return page(
            "Not connected", f"QuickBooks refused the connection ({err}). Start again.", 502
        )
    # Again, holding the key's row: it may have been revoked while Intuit answered.
    refused = await service.starter_refusal(uow.session, started_by, lock=True)
    if refused is not None:
        background.add_task(_revoke_unused, oauth, tokens.refresh_token, realm_id)
        return page("Not connected", refused, 403)
    connection, resumed = await service.save_connection(
        uow.session, settings, realm_id, tokens, profile, cipher
    )
    uow.hint_sync(resumed)
    return page("Connected", f"Connected to {connection.company_name or realm_id}.")


async def _revoke_unused(oauth: IntuitOAuth, refresh_token: SecretStr, realm_id: str) -> None:
    """Tokens Intuit issued for a flow refused at the end: revoked, never stored."""
    try:
        await oauth.revoke(refresh_token, realm_id=realm_id)
    except OAuthFailure as err:
        logger.warning(
            "revoking the unused tokens of realm %s failed (%s)",
            realm_id,
            err.error,
            extra={"realm_id": realm_id, "intuit_tid": err.intuit_tid},
        )


@router.get("", response_model=list[ConnectionOut], responses=problem_responses(401, 403, 422))
async def list_all(caller: ConnectionsAdmin, session: SessionDep) -> list[ConnectionOut]:
    """Every connection with its status; tokens are never returned."""
    return [ConnectionOut.of(c) for c in await service.list_connections(session)]


@router.get(
    "/{realm_id:realm}",
    response_model=ConnectionOut,
    responses=problem_responses(401, 403, 422, 404),
)
async def get_one(caller: ConnectionsAdmin, session: SessionDep, realm_id: str) -> ConnectionOut:
    connection = await service.get_connection(session, realm_id)
    if connection is None:
        raise NotFound(f"no connection for realm {realm_id}")
    return ConnectionOut.of(connection)


@router.delete(
    "/{realm_id:realm}",
    response_model=Disconnected,
    responses=problem_responses(401, 403, 422, 404, 503),
)
async def remove(
    caller: ConnectionsAdmin,
    realm_id: str,
    oauth: OAuthDep,
    cipher: CipherDep,
    uow: UnitOfWorkDep,
) -> Disconnected:
    """Revoke at Intuit and mark disconnected; mappings are kept and its events wait."""
    connection = await service.get_connection(uow.session, realm_id)
    if connection is None:
        raise NotFound(f"no connection for realm {realm_id}")
    revoked = await service.disconnect(uow.session, oauth, connection, cipher)
    return Disconnected(**ConnectionOut.of(connection).model_dump(), revoked_at_intuit=revoked)


class QboUnreadable(AppError):
    status, type_, title = 502, "qbo-error", "QuickBooks could not be read"


def _retry_later(detail: str, seconds: float | None) -> ServiceUnavailable:
    error = ServiceUnavailable(detail)
    error.headers = {"Retry-After": str(max(1, math.ceil(seconds or 1)))}
    return error


@asynccontextmanager
async def reading_company(realm_id: str) -> AsyncIterator[None]:
    """QBO's and the budget's failures as answers: a spent budget or a throttle 503 with
    Retry-After, a company that cannot be read 409, anything else from QBO 502."""
    try:
        yield
    except BudgetWait as err:
        raise _retry_later(
            f"the company's QuickBooks request budget is spent for {err.seconds:.0f} s",
            err.seconds,
        ) from None
    except ConnectionUnavailable as err:
        raise Conflict(
            f"company {realm_id} cannot be read ({err.status or 'not connected'});"
            " reconnect it (POST /connections) and try again"
        ) from None
    except RefreshFailed as err:
        detail = f"Intuit could not refresh the token ({err.failure.error})"
        raise _retry_later(detail, 30) from None
    except QboError as err:
        if err.category in (Category.THROTTLED, Category.TRANSIENT):
            raise _retry_later(f"QuickBooks is busy ({err})", err.retry_after) from None
        raise QboUnreadable(f"QuickBooks refused the read ({err})") from None


async def _connection(session: AsyncSession, realm_id: str) -> Connection:
    connection = await service.get_connection(session, realm_id)
    if connection is None:
        raise NotFound(f"no connection for realm {realm_id}")
    return connection


@router.get(
    "/{realm_id:realm}/settings",
    response_model=SettingsOut,
    responses=problem_responses(401, 403, 422, 404),
)
async def get_settings(
    caller: ConnectionsAdmin, session: SessionDep, settings: SettingsDep, realm_id: str
) -> dict[str, Any]:
    """The company's settings: each value in effect and whether the company set it or it
    is the service's default (its environment variable)."""
    connection = await _connection(session, realm_id)
    return settings_out(await company_settings.settings_view(session, connection, settings))


@router.put(
    "/{realm_id:realm}/settings",
    response_model=SettingsOut,
    responses=problem_responses(401, 403, 422, 400, 413, 404, 409, 502, 503),
)
async def put_settings(
    request: Request,
    caller: ConnectionsAdmin,
    session: SessionDep,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    realm_id: str,
    body: CompanySettings,
) -> dict[str, Any]:
    """Replace the company's whole set (a field left out or null: the default). Ids are
    checked against the company's records (they must exist, be active and of the right
    type), and settings its country has no use for are refused: 422 naming each field,
    nothing stored. A set that changes nothing stores nothing. A change applies to events
    synced after it, never to records already in QBO."""
    connection = await _connection(session, realm_id)
    try:
        async with reading_company(realm_id):
            await company_settings.change_settings(
                session,
                uow.session,
                realm_query(request.app.state, realm_id),
                connection,
                body,
                caller.name,
                settings.reference_cache_seconds,
            )
    except company_settings.SettingsRefused as refused:
        raise InvalidInput(refused.errors) from None
    except company_settings.CompanyUnreadable as err:
        raise Conflict(str(err)) from None
    await uow.session.flush()
    return settings_out(await company_settings.settings_view(uow.session, connection, settings))


@router.get(
    "/{realm_id:realm}/settings/history",
    response_model=SettingsHistoryPage,
    responses=problem_responses(401, 403, 422, 404),
)
async def settings_history(
    caller: ConnectionsAdmin,
    session: SessionDep,
    realm_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
) -> SettingsHistoryPage:
    """Every change of the company's settings, newest first; pass `next_cursor` back as
    `cursor`. `old`/`new` null: the default."""
    await _connection(session, realm_id)
    try:
        rows, next_cursor = await company_settings.settings_history(
            session, realm_id, limit, cursor
        )
    except ValueError:
        raise bad_cursor() from None
    return SettingsHistoryPage(
        items=[SettingChangeOut.of(c) for c in rows], next_cursor=next_cursor
    )


REFERENCE_PARAMETERS = ("type", "refresh")


@router.get(
    "/{realm_id:realm}/reference/{kind}",
    response_model=ReferenceListOut,
    response_model_exclude_unset=True,
    responses=problem_responses(401, 403, 422, 404, 409, 502, 503),
)
async def reference(
    request: Request,
    caller: ConnectionsAdmin,
    session: SessionDep,
    settings: SettingsDep,
    realm_id: str,
    kind: ReferenceKind,
    type_: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    refresh: bool = False,
) -> ReferenceListOut:
    """The company's list of `kind`, inactive records included, as cached for
    REFERENCE_CACHE_SECONDS (`refresh=true` reads QBO again); `type` keeps the rows of
    one type (AccountType for accounts, e.g. `Income`)."""
    reject_unknown_parameters(request.query_params, REFERENCE_PARAMETERS)
    connection = await _connection(session, realm_id)
    if connection.status != ConnectionStatus.ACTIVE:
        cached = await reference_lists.cached_list(session, realm_id, kind)
        if cached is None:
            raise Conflict(
                f"company {realm_id} is {connection.status.value.replace('_', ' ')} and its"
                " list was never read; reconnect it (POST /connections)"
            )
        rows = cached
    else:
        async with reading_company(realm_id):
            rows = await reference_lists.reference_list(
                session,
                realm_query(request.app.state, realm_id),
                realm_id,
                kind,
                settings.reference_cache_seconds,
                refresh=refresh,
            )
    wanted = type_.casefold() if type_ else None
    return ReferenceListOut(
        kind=kind.value,
        fetched_at=rows.fetched_at,
        rows=[
            ReferenceRowOut.model_validate(r)
            for r in rows.rows
            if wanted is None or str(r.get("type") or "").casefold() == wanted
        ],
    )
