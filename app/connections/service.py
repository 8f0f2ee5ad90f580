"""Connecting QBO companies: OAuth start and callback, listing, disconnecting.

Routers call these with a session; the request boundary commits. A reconnect updates the
same row, so mappings and waiting events are kept, and the waiting events resume.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections.models import Connection, ConnectionStatus, OAuthState
from app.connections.tokens import read_tokens, store_tokens
from app.core.cipher import TokenCipher, TokenDecryptError
from app.core.keys import EntityKey
from app.db import utcnow
from app.events.repository import resume_waiting_connection
from app.qbo import CompanyProfile, IntuitOAuth, OAuthFailure, TokenSet
from app.security import ApiKey, Scope

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)


class InvalidState(Exception):
    """The callback's state is unknown, expired or already used: nothing may change."""


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Started:
    authorization_url: str
    state: str
    expires_at: datetime


async def start_connection(session: AsyncSession, oauth: IntuitOAuth, created_by: str) -> Started:
    """A single-use state (256 random bits; only its hash is stored) and Intuit's consent URL."""
    state = secrets.token_urlsafe(32)
    expires_at = utcnow() + STATE_TTL
    session.add(
        OAuthState(state_hash=hash_state(state), created_by=created_by, expires_at=expires_at)
    )
    await session.flush()
    return Started(oauth.authorization_url(state), state, expires_at)


async def consume_state(session: AsyncSession, state: str) -> str:
    """Mark the state used, atomically, and return the name of the API key that started the
    flow; raises InvalidState if it is unknown, expired or used.

    One UPDATE decides, so two callbacks racing with the same state cannot both pass.
    """
    now = utcnow()
    started_by: str | None = await session.scalar(
        update(OAuthState)
        .where(
            OAuthState.state_hash == hash_state(state),
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .returning(OAuthState.created_by)
    )
    if started_by is None:
        raise InvalidState("this link is unknown, expired or already used")
    return started_by


async def starter_refusal(session: AsyncSession, started_by: str, lock: bool = False) -> str | None:
    """Why the API key that started a flow may no longer finish it (None: it may): revoked
    since, or no longer holding connections:admin. A flow is the starter's authority
    carried through a browser, so it ends with the key.

    `lock` holds the key's row (FOR SHARE) until the caller's transaction ends, so a
    revocation cannot slip between this check and storing the tokens.
    """
    query = select(ApiKey.revoked_at, ApiKey.scopes).where(ApiKey.name == started_by)
    if lock:
        query = query.with_for_update(read=True)
    key = (await session.execute(query)).first()
    if key is None or key.revoked_at is not None:
        return (
            f"The API key that started this connection ({started_by}) was revoked before it "
            "finished; nothing was connected. Start again with a valid key."
        )
    if Scope.CONNECTIONS_ADMIN.value not in key.scopes:
        return (
            f"The API key that started this connection ({started_by}) no longer holds "
            "connections:admin; nothing was connected."
        )
    return None


async def save_connection(
    session: AsyncSession,
    settings: Settings,
    realm_id: str,
    tokens: TokenSet,
    profile: CompanyProfile,
    cipher: TokenCipher,
) -> tuple[Connection, list[EntityKey]]:
    """Create or update the realm's connection (row-locked) and release its waiting events.

    Returns the connection and the entities whose events went back to `pending`, for the
    caller to hint after commit.
    """
    connection = await session.scalar(
        select(Connection).where(Connection.realm_id == realm_id).with_for_update()
    )
    now = utcnow()
    if connection is None:
        connection = Connection(realm_id=realm_id, environment=settings.qbo_environment.value)
    connection.environment = settings.qbo_environment.value
    connection.status = ConnectionStatus.ACTIVE
    connection.company_name = profile.name
    connection.country = profile.country
    connection.company_info = profile.company_info
    connection.preferences = profile.preferences
    connection.access_token_expires_at = tokens.access_expires_at
    connection.refresh_token_expires_at = tokens.refresh_expires_at
    connection.refresh_token_hard_expires_at = tokens.refresh_hard_expires_at
    connection.last_refreshed_at = now
    connection.refresh_failures = 0
    connection.connected_at = now
    connection.disconnected_at = None
    store_tokens(session, connection, tokens.access_token, tokens.refresh_token, cipher=cipher)
    await session.flush()
    keys = await resume_waiting_connection(session, realm_id)
    logger.info(
        "connected realm %s; %d entities resume", realm_id, len(keys), extra={"realm_id": realm_id}
    )
    return connection, keys


async def list_connections(session: AsyncSession) -> list[Connection]:
    return list((await session.scalars(select(Connection).order_by(Connection.realm_id))).all())


async def get_connection(session: AsyncSession, realm_id: str) -> Connection | None:
    return await session.scalar(select(Connection).where(Connection.realm_id == realm_id))


async def disconnect(
    session: AsyncSession, oauth: IntuitOAuth, connection: Connection, cipher: TokenCipher
) -> bool:
    """Revoke at Intuit, mark disconnected, forget the tokens; mappings and events stay.

    Returns whether Intuit confirmed the revocation. An already-revoked token does not block
    the disconnect, and neither does an unreachable Intuit: the tokens are dropped here either
    way, so this service can no longer use them.
    """
    revoked = False
    if connection.refresh_token_enc is not None:
        try:
            _, refresh = read_tokens(connection, cipher)
            await oauth.revoke(refresh, realm_id=connection.realm_id)
            revoked = True
        except OAuthFailure as err:
            logger.warning(
                "revoke at Intuit failed (%s); disconnecting anyway",
                err.error,
                extra={"realm_id": connection.realm_id, "intuit_tid": err.intuit_tid},
            )
        except TokenDecryptError:
            logger.warning(
                "stored token unreadable with the configured keys; disconnecting anyway",
                extra={"realm_id": connection.realm_id},
            )
    connection.status = ConnectionStatus.DISCONNECTED
    connection.disconnected_at = utcnow()
    connection.access_token_enc = None
    connection.refresh_token_enc = None
    connection.access_token_expires_at = None
    await session.flush()
    return revoked
