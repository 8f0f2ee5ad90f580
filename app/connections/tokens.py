"""Storing and reading a connection's QBO tokens, encrypted at rest, and re-encrypting them all.

The OAuth callback and the refresh job call these; they never see ciphertext and never hold a
token outside a `SecretStr`.
"""

from __future__ import annotations

import uuid

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.core.cipher import TokenCipher, TokenDecryptError
from app.uow import unit_of_work


class MissingTokensError(LookupError):
    """The connection has no stored tokens (never connected, or they were cleared)."""


def store_tokens(
    session: AsyncSession,
    connection: Connection,
    access_token: SecretStr,
    refresh_token: SecretStr,
    *,
    cipher: TokenCipher,
) -> None:
    """Encrypt both tokens with the newest key and set them on `connection`.

    Side effects: adds `connection` to `session` and changes its two token columns; nothing is
    flushed or committed, the caller's transaction decides. Callers that replace tokens of an
    existing row should hold its row lock (`FOR UPDATE`), as `rotate_encryption` does, so two
    writers cannot interleave.
    """
    connection.access_token_enc = cipher.encrypt(access_token)
    connection.refresh_token_enc = cipher.encrypt(refresh_token)
    session.add(connection)


def read_tokens(connection: Connection, cipher: TokenCipher) -> tuple[SecretStr, SecretStr]:
    """(access token, refresh token) of `connection`, decrypted.

    Raises MissingTokensError when either column is empty, TokenDecryptError when no configured
    key can read one of them.
    """
    if connection.access_token_enc is None or connection.refresh_token_enc is None:
        raise MissingTokensError(f"connection for realm {connection.realm_id} has no tokens")
    return cipher.decrypt(connection.access_token_enc), cipher.decrypt(connection.refresh_token_enc)


async def rotate_encryption(
    session_factory: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    batch_size: int = 100,
) -> int:
    """Re-encrypt every connection's tokens with the newest key; returns how many rows changed.

    Rows are visited in id order, `batch_size` at a time, each batch in its own transaction
    holding plain `FOR UPDATE` row locks: a token refresh running at the same time either
    finishes first (and the batch then reads and re-encrypts its new tokens) or waits for the
    batch to commit. Skipping locked rows instead would leave them under the old key, and
    reading without a lock could write back tokens a refresh has just replaced.

    Rows whose tokens the newest key can already read are skipped, not rewritten, so a second
    run returns 0 and an interrupted run can simply be started again.

    Side effects: updates `access_token_enc`, `refresh_token_enc` and `updated_at` of the rows
    it rewrites, committing after each batch. Raises TokenDecryptError, naming the realm, when
    a stored token cannot be read with any configured key; batches already committed stay
    committed and the failing batch is rolled back.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rewritten = 0
    after: uuid.UUID | None = None
    while True:
        async with unit_of_work(session_factory) as uow:
            session = uow.session
            query = select(Connection).order_by(Connection.id).limit(batch_size).with_for_update()
            if after is not None:
                query = query.where(Connection.id > after)
            batch = list(await session.scalars(query))
            for connection in batch:
                if _rotate_connection(connection, cipher):
                    rewritten += 1
        if len(batch) < batch_size:
            return rewritten
        after = batch[-1].id


def _rotate_connection(connection: Connection, cipher: TokenCipher) -> bool:
    """Re-encrypt the stale token columns of `connection` in place; True if any changed."""
    changed = False
    try:
        if connection.access_token_enc is not None and not cipher.is_current(
            connection.access_token_enc
        ):
            connection.access_token_enc = cipher.rotate(connection.access_token_enc)
            changed = True
        if connection.refresh_token_enc is not None and not cipher.is_current(
            connection.refresh_token_enc
        ):
            connection.refresh_token_enc = cipher.rotate(connection.refresh_token_enc)
            changed = True
    except TokenDecryptError:
        raise TokenDecryptError(
            f"tokens of the connection for realm {connection.realm_id} cannot be decrypted "
            "with any TOKEN_ENCRYPTION_KEYS key (was the key that wrote them removed?)"
        ) from None
    return changed
