"""Reads of a company's QBO on behalf of the API and the console: a valid access token
(refreshed when needed), the realm's shared request budget, and the process's metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from app.connections.models import Connection, ConnectionStatus
from app.connections.reference import (
    Query,
    ReferenceKind,
    ReferenceRows,
    cached_list,
    reference_list,
)
from app.connections.refresh import (
    ConnectionUnavailable,
    RefreshFailed,
    TokenKeeper,
    with_access_token,
)
from app.qbo import BudgetWait, QboClient, QboError, ReadPurpose, ReadsWait


def _keeper(state: State) -> TokenKeeper:
    return TokenKeeper(
        settings=state.settings,
        session_factory=state.session_factory,
        oauth=state.oauth,
        cipher=state.cipher,
        metrics=state.metrics,
    )


def _client(state: State, realm_id: str, token: SecretStr) -> QboClient:
    """A client of the realm's QBO within its shared budget, metered, with the metrics."""
    return QboClient(
        state.settings,
        realm_id,
        token,
        state.qbo_transport,
        budget=state.budget,
        recorder=state.metrics,
        meter=getattr(state, "meter", None),
    )


def realm_query(state: State, realm_id: str) -> Query:
    """Queries of the realm's QBO from a request's app state (`settings`, `session_factory`,
    `oauth`, `cipher`, `metrics`, `budget`, `qbo_transport`). A call raises QboError,
    BudgetWait, ConnectionUnavailable or RefreshFailed."""
    keeper = _keeper(state)

    async def run(statement: str) -> list[dict[str, Any]]:
        async def call(token: SecretStr) -> list[dict[str, Any]]:
            client = _client(state, realm_id, token)
            # The API's reads are of lists it also caches (reference_lists): optional.
            return await client.query(statement, purpose=ReadPurpose.REFERENCE_LIST)

        return await with_access_token(keeper, realm_id, call)

    return run


def realm_pdf(state: State, realm_id: str) -> Callable[[str, str], Awaitable[bytes]]:
    """The QBO-rendered PDF of one of the realm's sales forms (entity, QBO id), fetched as
    `realm_query` reads: a valid token, the realm's budget, the process's metrics."""
    keeper = _keeper(state)

    async def fetch(entity: str, qbo_id: str) -> bytes:
        async def call(token: SecretStr) -> bytes:
            client = _client(state, realm_id, token)
            return await client.pdf(entity, qbo_id)

        return await with_access_token(keeper, realm_id, call)

    return fetch


def reading_problem(err: Exception) -> str:
    """Why a company's QBO could not be read, in words for a person."""
    if isinstance(err, ReadsWait):
        return f"The month's QuickBooks reads are kept for syncing ({err.why}); shown as cached."
    if isinstance(err, BudgetWait):
        return (
            f"The company's QuickBooks request budget is spent for {err.seconds:.0f} s;"
            " try again after that."
        )
    if isinstance(err, ConnectionUnavailable):
        return (
            "The company cannot be read (not connected, or it needs re-authorisation):"
            " reconnect it."
        )
    if isinstance(err, RefreshFailed):
        return (
            f"Intuit could not refresh the company's token ({err.failure.error});"
            " try again shortly."
        )
    return f"QuickBooks could not be read ({err})."


READ_FAILURES = (BudgetWait, ConnectionUnavailable, RefreshFailed, QboError)


async def lists_or_cached(
    session: AsyncSession,
    query: Query,
    connection: Connection,
    kinds: Iterable[ReferenceKind],
    max_age_seconds: float,
) -> tuple[dict[ReferenceKind, ReferenceRows], str | None]:
    """The company's lists of `kinds` for a page: read (or cached) as the API serves them;
    while the company cannot be read, the cached ones, with the reason (None: all read)."""
    lists: dict[ReferenceKind, ReferenceRows] = {}
    problem: str | None = None
    readable = connection.status == ConnectionStatus.ACTIVE
    if not readable:
        problem = reading_problem(ConnectionUnavailable(connection.realm_id, connection.status))
    for kind in kinds:
        if readable:
            try:
                lists[kind] = await reference_list(
                    session, query, connection.realm_id, kind, max_age_seconds
                )
                continue
            except QboError as err:
                # One list QBO refuses does not keep the others from being read.
                problem = problem or reading_problem(err)
            except READ_FAILURES as err:
                problem, readable = reading_problem(err), False
        cached = await cached_list(session, connection.realm_id, kind)
        if cached is not None:
            lists[kind] = cached
    return lists, problem
