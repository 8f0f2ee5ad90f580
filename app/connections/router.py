"""HTTP routes for connecting QBO companies."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import SecretStr
from starlette.convertors import Convertor, register_url_convertor

from app.connections import service
from app.connections.pages import page
from app.connections.schemas import ConnectionOut, ConnectionStarted, Disconnected
from app.core.cipher import TokenCipher
from app.deps import ConnectionsAdmin, SessionDep, SettingsDep, UnitOfWorkDep
from app.errors import NotFound, ServiceUnavailable, problem_responses
from app.qbo import BudgetWait, IntuitOAuth, LazyOAuth, OAuthFailure, QboError, read_company

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
        tokens = await oauth.exchange_code(code)
        profile = await read_company(
            settings,
            realm_id,
            tokens.access_token,
            request.app.state.qbo_transport,
            request.app.state.budget,
            request.app.state.metrics,
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
        await oauth.revoke(refresh_token)
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
