"""Typed dependencies, declared once and used in every signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.errors import Forbidden, NotAuthenticated
from app.security import ActiveKey, Scope, find_active_key
from app.uow import Hints, UnitOfWork, send_hints, unit_of_work


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One autocommit connection per request: each statement is durable when it returns.

    Auth, intake and reads are single statements, so this saves BEGIN/COMMIT round trips and
    the ORM's overhead on the hot path; work that needs a transaction takes `UnitOfWorkDep`.
    """
    async with request.app.state.autocommit_engine.connect() as connection:
        yield connection


ConnectionDep = Annotated[AsyncConnection, Depends(get_connection)]


async def get_session(connection: ConnectionDep) -> AsyncIterator[AsyncSession]:
    """An ORM session over the request's connection (no second pool checkout)."""
    async with AsyncSession(bind=connection, expire_on_commit=False) as session:
        yield session


async def get_redis(request: Request) -> ArqRedis:
    redis: ArqRedis = request.app.state.redis
    return redis


async def get_unit_of_work(
    request: Request, background: BackgroundTasks
) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work (`app.uow`): committed when the route returns, before the
    answer is sent (so what a 2xx reports is durable), rolled back when it raises.

    Its hints leave after the answer, as background tasks, so no request waits on Redis;
    an error answer carries none. Intake, which writes on the autocommit connection, hints
    through it too: every hint of a request leaves only once its work is stored.
    """
    redis: ArqRedis = request.app.state.redis

    async def after_response(hints: Hints) -> int:
        background.add_task(send_hints, redis, hints)
        return 0

    async with unit_of_work(request.app.state.session_factory, deliver=after_response) as uow:
        yield uow


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
RedisDep = Annotated[ArqRedis, Depends(get_redis)]
# Function scope: the commit happens before the response is sent, not after it.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


# Who is calling: the API key that passed `require_scope`.
Caller = ActiveKey


# Declares the scheme in the OpenAPI document; the checks below give our own 401 answers.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer <key>`"
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


class ScopeRequired:
    """A dependency that admits a valid, unrevoked key holding `scope` (401 / 403 otherwise).

    A class rather than a closure so that `scope` stays readable: the tests derive each
    route's required scope from its dependencies, so no route can lack one unnoticed.
    """

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, connection: ConnectionDep, credentials: BearerDep) -> Caller:
        presented = credentials.credentials.strip() if credentials else ""
        if not presented:
            raise NotAuthenticated("send the API key as 'Authorization: Bearer <key>'")
        key = await find_active_key(connection, presented)
        if key is None:
            raise NotAuthenticated("the API key is unknown or revoked")
        if not key.holds(self.scope):
            raise Forbidden(f"this API key lacks the scope {self.scope.value!r}")
        return key


def require_scope(scope: Scope) -> ScopeRequired:
    """The dependency of routes that need an API key holding `scope`."""
    return ScopeRequired(scope)


EventsWriter = Annotated[Caller, Depends(require_scope(Scope.EVENTS_WRITE))]
EventsReader = Annotated[Caller, Depends(require_scope(Scope.EVENTS_READ))]
ConnectionsAdmin = Annotated[Caller, Depends(require_scope(Scope.CONNECTIONS_ADMIN))]
StatusReader = Annotated[Caller, Depends(require_scope(Scope.STATUS_READ))]
