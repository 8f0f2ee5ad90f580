"""Access tokens that are always valid: single-flight refresh across every process.

The connection row is locked (`FOR UPDATE`) for the whole refresh, so however many workers
and machines ask at once, one calls Intuit and the others wait, re-read, and find the new
token. Both new tokens are stored in the same transaction. A lost answer (timeout, reset, or
a gateway's 504) is never retried blindly: the stored token is the truth, and it is tried
once more. `invalid_grant` (after one
re-read) makes the connection `needs_reauth`, parks its events and notifies ops.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.models import NoticeKind
from app.callbacks.service import enqueue_notice_to_all
from app.config import Settings
from app.connections.models import Connection, ConnectionStatus
from app.connections.notify import send_ops_notice
from app.connections.tokens import read_tokens, store_tokens
from app.core.cipher import TokenCipher
from app.core.failures import Category, SyncFailure
from app.core.metrics import TOKEN_REFRESHES, Metrics
from app.db import utcnow
from app.events.repository import park_for_connection
from app.qbo import IntuitOAuth, LazyOAuth, OAuthFailure, QboError, TokenSet
from app.uow import UnitOfWork, unit_of_work

logger = logging.getLogger(__name__)

# Callers get a token that stays valid at least this long (QBO calls time out at 120 s).
CALLER_MARGIN = timedelta(minutes=5)

Needed = Callable[[Connection, SecretStr], bool]
T = TypeVar("T")


class ConnectionUnavailable(SyncFailure):
    """The realm has no active connection (missing, disconnected, or needs re-authorisation)."""

    category = Category.CONNECTION
    retryable = False

    def __init__(self, realm_id: str, status: str | None, reason: str = "") -> None:
        super().__init__(f"realm {realm_id}: {status or 'not connected'} {reason}".strip())
        self.realm_id = realm_id
        self.status = status


class RefreshFailed(SyncFailure):
    """Intuit could not be reached or failed; the stored tokens are unchanged. Try later."""

    category = Category.TRANSIENT
    retryable = True

    def __init__(self, realm_id: str, failure: OAuthFailure) -> None:
        super().__init__(f"realm {realm_id}: token refresh failed ({failure.error})")
        self.realm_id = realm_id
        self.failure = failure

    def log_warning(self, logger: logging.Logger, extra: dict[str, Any]) -> None:
        logger.warning("token refresh failed; retrying later", extra=extra)


@dataclass(frozen=True, slots=True)
class TokenKeeper:
    """What refreshing needs, built once per process (API or worker)."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    oauth: LazyOAuth
    cipher: TokenCipher
    notice_transport: httpx.AsyncBaseTransport | None = None
    metrics: Metrics | None = None

    async def count(self, result: str) -> None:
        if self.metrics is not None:
            await self.metrics.incr(TOKEN_REFRESHES, {"result": result})


def expiring(until: datetime) -> Needed:
    """Refresh unless the stored access token is valid beyond `until`."""
    return lambda c, _: c.access_token_expires_at is None or c.access_token_expires_at <= until


def due(until: datetime, stale_before: datetime) -> Needed:
    """The cron's test: expiring soon, or idle so long the rolling refresh window matters."""
    soon = expiring(until)
    return lambda c, a: (
        soon(c, a) or c.last_refreshed_at is None or c.last_refreshed_at <= stale_before
    )


def rejected(token: SecretStr) -> Needed:
    """After QBO answered 401 to `token`: refresh unless someone already replaced it."""
    return lambda _, current: current.get_secret_value() == token.get_secret_value()


async def access_token(keeper: TokenKeeper, realm_id: str) -> SecretStr:
    """A valid access token for the realm, refreshed first when within 5 minutes of expiry.

    Raises ConnectionUnavailable (not active, or the refresh found it revoked) and
    RefreshFailed (Intuit unreachable; nothing changed).
    """
    async with keeper.session_factory() as session:
        connection = await session.scalar(select(Connection).where(Connection.realm_id == realm_id))
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        raise ConnectionUnavailable(realm_id, connection.status if connection else None)
    horizon = utcnow() + CALLER_MARGIN
    expires = connection.access_token_expires_at
    if expires is not None and expires > horizon:
        return read_tokens(connection, keeper.cipher)[0]
    return await refresh_connection(keeper, realm_id, expiring(horizon))


async def with_access_token(
    keeper: TokenKeeper, realm_id: str, call: Callable[[SecretStr], Awaitable[T]]
) -> T:
    """Run a QBO API call with a valid token; on 401 refresh once and retry once.

    A second 401 means Intuit no longer accepts this connection: it takes the same path as
    `invalid_grant` (needs_reauth, events parked, ops notified) and raises
    ConnectionUnavailable. Other QboErrors pass through.
    """
    token = await access_token(keeper, realm_id)
    try:
        return await call(token)
    except QboError as err:
        if err.category is not Category.AUTH:
            raise
    token = await refresh_connection(keeper, realm_id, rejected(token))
    try:
        return await call(token)
    except QboError as err:
        if err.category is not Category.AUTH:
            raise
        failure = OAuthFailure("rejected", "QBO refused a freshly refreshed token", err.intuit_tid)
    async with unit_of_work(keeper.session_factory) as uow:
        connection = await uow.session.scalar(
            select(Connection).where(Connection.realm_id == realm_id).with_for_update()
        )
        if connection is not None and connection.status == ConnectionStatus.ACTIVE:
            connection.refresh_failures += 1
            await _needs_reauth(uow, connection, failure.description or failure.error)
    await _report_reauth(keeper, realm_id, failure)
    raise ConnectionUnavailable(realm_id, ConnectionStatus.NEEDS_REAUTH.value, failure.error)


async def mark_needs_reauth(
    keeper: TokenKeeper, realm_id: str, why: str, intuit_tid: str | None = None
) -> None:
    """QBO refused the connection itself (120, 3100): stop using it, park its events, and
    tell ops, as after `invalid_grant`."""
    async with unit_of_work(keeper.session_factory) as uow:
        connection = await uow.session.scalar(
            select(Connection).where(Connection.realm_id == realm_id).with_for_update()
        )
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            return
        await _needs_reauth(uow, connection, why)
    await _report_reauth(keeper, realm_id, OAuthFailure("rejected", why, intuit_tid))


async def refresh_connection(keeper: TokenKeeper, realm_id: str, needed: Needed) -> SecretStr:
    """Refresh the realm's tokens if `needed` still says so once the row lock is held.

    Returns the valid access token (new, or the one a sibling stored meanwhile). Raises
    ConnectionUnavailable or RefreshFailed as `access_token` does.
    """
    oauth = await keeper.oauth.get()
    failed: OAuthFailure | None = None
    async with unit_of_work(keeper.session_factory) as uow:
        connection = await uow.session.scalar(
            select(Connection).where(Connection.realm_id == realm_id).with_for_update()
        )
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            raise ConnectionUnavailable(realm_id, connection.status if connection else None)
        access, refresh = read_tokens(connection, keeper.cipher)
        if not needed(connection, access):
            return access
        try:
            tokens = await _refresh(oauth, uow.session, connection, keeper.cipher, refresh)
        except OAuthFailure as failure:
            # The failure is recorded (and committed) either way; the stored tokens stay.
            failed = failure
            await keeper.count(failure.error)
            connection.refresh_failures += 1
            if not failure.retryable:
                await _needs_reauth(uow, connection, failure.description or failure.error)
        else:
            _save(uow.session, connection, tokens, keeper.cipher)
            await keeper.count("refreshed")
            logger.info(
                "refreshed tokens", extra={"realm_id": realm_id, "intuit_tid": tokens.intuit_tid}
            )
            return tokens.access_token
    if failed.retryable:
        raise RefreshFailed(realm_id, failed)
    await _report_reauth(keeper, realm_id, failed)
    raise ConnectionUnavailable(realm_id, ConnectionStatus.NEEDS_REAUTH.value, failed.error)


async def _report_reauth(keeper: TokenKeeper, realm_id: str, failure: OAuthFailure) -> None:
    """Log, and notify ops, that a connection needs re-authorisation (after commit)."""
    logger.error(
        "connection needs re-authorisation: %s",
        failure.description or failure.error,
        extra={"realm_id": realm_id, "intuit_tid": failure.intuit_tid},
    )
    await send_ops_notice(
        keeper.settings,
        "connection.needs_reauth",
        {
            "realm_id": realm_id,
            "error": failure.error,
            "detail": failure.description,
            "intuit_tid": failure.intuit_tid,
        },
        keeper.notice_transport,
    )


async def _refresh(
    oauth: IntuitOAuth,
    session: AsyncSession,
    connection: Connection,
    cipher: TokenCipher,
    refresh: SecretStr,
) -> TokenSet:
    try:
        return await oauth.refresh(refresh, realm_id=connection.realm_id)
    except OAuthFailure as failure:
        if failure.answer_lost:
            # A timeout, a reset or a gateway's 504: Intuit may have applied the refresh. Until
            # Intuit rotates the value, the stored token still works, so one more call with it
            # recovers the pair; if it was rotated, the pair is lost with the answer.
            try:
                return await oauth.refresh(refresh, realm_id=connection.realm_id)
            except OAuthFailure as again:
                if again.invalid_grant:
                    raise OAuthFailure(
                        "invalid_grant",
                        "a refresh answer was lost after Intuit rotated the refresh token;"
                        " reconnect the company",
                        again.intuit_tid,
                    ) from None
                raise
        if failure.invalid_grant:
            # Re-read once: a process that does not share this lock may have stored a newer pair.
            await session.refresh(connection)
            current = read_tokens(connection, cipher)[1]
            if current.get_secret_value() != refresh.get_secret_value():
                return await oauth.refresh(current, realm_id=connection.realm_id)
        raise


def _save(
    session: AsyncSession, connection: Connection, tokens: TokenSet, cipher: TokenCipher
) -> None:
    store_tokens(session, connection, tokens.access_token, tokens.refresh_token, cipher=cipher)
    connection.access_token_expires_at = tokens.access_expires_at
    connection.refresh_token_expires_at = tokens.refresh_expires_at
    if tokens.refresh_hard_expires_at is not None:
        connection.refresh_token_hard_expires_at = tokens.refresh_hard_expires_at
    connection.last_refreshed_at = utcnow()
    connection.refresh_failures = 0


async def _needs_reauth(uow: UnitOfWork, connection: Connection, reason: str) -> None:
    """Stop using the connection, park its due events until it is reconnected, and queue a
    `connection.needs_reauth` notice to every callback (same transaction). The keeper has no
    Redis, so no delivery hint leaves: the sync engine hints after `mark_needs_reauth`, and
    the delivery cron finds the rest."""
    connection.status = ConnectionStatus.NEEDS_REAUTH
    await park_for_connection(uow.session, connection.realm_id)
    uow.notice()
    await enqueue_notice_to_all(
        uow.session,
        NoticeKind.CONNECTION_NEEDS_REAUTH.value,
        {
            "realm_id": connection.realm_id,
            "company_name": connection.company_name,
            "reason": reason,
        },
    )


async def refresh_due_connections(keeper: TokenKeeper) -> dict[str, str]:
    """The cron: refresh every active connection expiring within REFRESH_AHEAD_MINUTES, or
    idle for REFRESH_IDLE_DAYS. One realm's failure does not stop the others.

    Returns realm id -> `refreshed` / `skipped` / the failure, for logs and tests.
    """
    now = utcnow()
    until = now + timedelta(minutes=keeper.settings.refresh_ahead_minutes)
    stale_before = now - timedelta(days=keeper.settings.refresh_idle_days)
    async with keeper.session_factory() as session:
        realms = (
            await session.scalars(
                select(Connection.realm_id).where(
                    Connection.status == ConnectionStatus.ACTIVE,
                    or_(
                        Connection.access_token_expires_at <= until,
                        Connection.last_refreshed_at <= stale_before,
                        Connection.last_refreshed_at.is_(None),
                    ),
                )
            )
        ).all()
    outcomes: dict[str, str] = {}
    for realm_id in realms:
        try:
            await refresh_connection(keeper, realm_id, due(until, stale_before))
            outcomes[realm_id] = "refreshed"
        except (ConnectionUnavailable, RefreshFailed, OAuthFailure) as err:
            outcomes[realm_id] = str(err)
    return outcomes
