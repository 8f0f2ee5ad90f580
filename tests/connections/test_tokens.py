"""Tokens in the `connections` table: encrypted at rest, readable, re-encrypted by rotation."""

from __future__ import annotations

import asyncio
import base64
import io
import secrets
import subprocess
import sys

import asyncpg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.connections.tokens import (
    MissingTokensError,
    read_tokens,
    rotate_encryption,
    store_tokens,
)
from app.core.cipher import TokenCipher, TokenDecryptError
from app.db import to_libpq_url
from tests.support import helpers

Factory = async_sessionmaker[AsyncSession]


def new_key() -> SecretStr:
    return SecretStr(Fernet.generate_key().decode())


def new_tokens() -> tuple[str, str]:
    """An access token shaped like Intuit's (long, JWT-ish) and a refresh token (`AB11...`)."""
    return f"eyJ{secrets.token_urlsafe(60)}", f"AB11{secrets.token_hex(24)}"


async def add_connection(factory: Factory, cipher: TokenCipher, tokens: tuple[str, str]) -> str:
    """A new connection holding `tokens`, encrypted by `cipher`; returns its realm id."""
    realm = f"9130{secrets.randbelow(10**12):012d}"
    async with factory() as session:
        connection = Connection(realm_id=realm, environment="sandbox", company_name="Acme Ltd")
        store_tokens(session, connection, SecretStr(tokens[0]), SecretStr(tokens[1]), cipher=cipher)
        await session.commit()
    return realm


async def tokens_of(factory: Factory, realm: str, cipher: TokenCipher) -> tuple[str, str]:
    async with factory() as session:
        connection = await session.scalar(select(Connection).where(Connection.realm_id == realm))
        assert connection is not None
        access, refresh = read_tokens(connection, cipher)
    return access.get_secret_value(), refresh.get_secret_value()


def leaked_forms(token: str) -> list[str]:
    """The token as it would show up in a dump if it were stored unencrypted, in any encoding."""
    raw = token.encode()
    forms = [
        token,
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]
    # Base64 without its padding, as some encoders write it.
    return forms + [f.rstrip("=") for f in forms[2:]]


async def test_store_and_read_round_trip(session_factory: Factory) -> None:
    cipher = TokenCipher([new_key()])
    tokens = new_tokens()
    realm = await add_connection(session_factory, cipher, tokens)
    assert await tokens_of(session_factory, realm, cipher) == tokens


def test_read_tokens_of_a_connection_without_tokens() -> None:
    connection = Connection(realm_id="123", environment="sandbox")
    with pytest.raises(MissingTokensError, match="123"):
        read_tokens(connection, TokenCipher([new_key()]))


async def test_table_dump_holds_no_token_in_clear(
    session_factory: Factory, database_url: str
) -> None:
    cipher = TokenCipher([new_key()])
    stored = [new_tokens() for _ in range(3)]
    for tokens in stored:
        await add_connection(session_factory, cipher, tokens)

    db = await asyncpg.connect(to_libpq_url(database_url))
    try:
        # What `pg_dump --data-only` writes for the table: COPY ... TO STDOUT in text format.
        copied = io.BytesIO()
        await db.copy_from_table("connections", output=copied)
        rows = await db.fetch("SELECT t::text AS row FROM connections t")
        encrypted = await db.fetch("SELECT access_token_enc FROM connections")
    finally:
        await db.close()
    dumps = [copied.getvalue().decode(), "\n".join(r["row"] for r in rows)]

    for dump in dumps:
        # The dumps do hold the token columns (as hex bytea), so the absence below means something.
        for record in encrypted:
            assert bytes(record["access_token_enc"]).hex() in dump
        for tokens in stored:
            for token in tokens:
                for form in leaked_forms(token):
                    assert form not in dump
                    assert form.lower() not in dump.lower()


async def test_rotate_encryption_moves_every_row_to_the_newest_key(
    session_factory: Factory,
) -> None:
    old, newest = new_key(), new_key()
    stored: dict[str, tuple[str, str]] = {}
    # Three rows written before the new key was added, two after.
    for key in [old, old, old, newest, newest]:
        tokens = new_tokens()
        stored[await add_connection(session_factory, TokenCipher([key]), tokens)] = tokens
    both = TokenCipher([newest, old])
    only_newest = TokenCipher([newest])

    # Before: the old key, second in the list, still reads what it wrote.
    for realm, tokens in stored.items():
        assert await tokens_of(session_factory, realm, both) == tokens

    # Five rows in batches of two: three batches, the last one short.
    assert await rotate_encryption(session_factory, both, batch_size=2) == 3

    for realm, tokens in stored.items():
        assert await tokens_of(session_factory, realm, only_newest) == tokens
    # Rows already under the newest key are skipped, so a second run changes nothing.
    assert await rotate_encryption(session_factory, both, batch_size=2) == 0


async def test_rotate_encryption_waits_for_a_concurrent_refresh(
    session_factory: Factory,
) -> None:
    """A refresh holding the row lock is not overwritten by rotation's copy of the old tokens."""
    old, newest = new_key(), new_key()
    # A process still configured with only the old key refreshes while rotation runs.
    old_cipher = TokenCipher([old])
    realm = await add_connection(session_factory, old_cipher, new_tokens())
    refreshed = new_tokens()

    async with session_factory() as refresher:
        connection = await refresher.scalar(
            select(Connection).where(Connection.realm_id == realm).with_for_update()
        )
        assert connection is not None
        store_tokens(
            refresher,
            connection,
            SecretStr(refreshed[0]),
            SecretStr(refreshed[1]),
            cipher=old_cipher,
        )
        await refresher.flush()
        rotation = asyncio.create_task(
            rotate_encryption(session_factory, TokenCipher([newest, old]))
        )
        await asyncio.sleep(0.3)
        assert not rotation.done(), "rotation must wait for the row lock"
        await refresher.commit()

    assert await asyncio.wait_for(rotation, timeout=10) == 1
    assert await tokens_of(session_factory, realm, TokenCipher([newest])) == refreshed


async def test_rotate_encryption_stops_at_an_unreadable_row(session_factory: Factory) -> None:
    lost, newest = new_key(), new_key()
    lost_tokens = new_tokens()
    realm = await add_connection(session_factory, TokenCipher([lost]), lost_tokens)

    with pytest.raises(TokenDecryptError) as caught:
        await rotate_encryption(session_factory, TokenCipher([newest]))
    message = str(caught.value)
    assert realm in message
    for token in lost_tokens:
        assert token not in message


def run_app(
    *args: str, database_url: str, redis_url: str, keys: list[SecretStr]
) -> subprocess.CompletedProcess[str]:
    return helpers.run_app(
        *args,
        database_url=database_url,
        redis_url=redis_url,
        TOKEN_ENCRYPTION_KEYS=",".join(k.get_secret_value() for k in keys),
    )


async def test_cli_rotate_encryption(
    session_factory: Factory, database_url: str, redis_url: str
) -> None:
    old, newest = new_key(), new_key()
    tokens = new_tokens()
    realm = await add_connection(session_factory, TokenCipher([old]), tokens)

    # Without the old key the command cannot read the row: it says which, and changes nothing.
    refused = await asyncio.to_thread(
        run_app,
        "keys",
        "rotate-encryption",
        database_url=database_url,
        redis_url=redis_url,
        keys=[newest],
    )
    assert refused.returncode == 1
    assert realm in refused.stderr
    assert await tokens_of(session_factory, realm, TokenCipher([old])) == tokens

    done = await asyncio.to_thread(
        run_app,
        "keys",
        "rotate-encryption",
        database_url=database_url,
        redis_url=redis_url,
        keys=[newest, old],
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted the tokens of 1 connection(s)" in done.stdout
    for output in (refused.stdout + refused.stderr, done.stdout + done.stderr):
        for token in tokens:
            assert token not in output
    assert await tokens_of(session_factory, realm, TokenCipher([newest])) == tokens


def test_cli_lists_rotate_encryption() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "app", "keys", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0
    assert "rotate-encryption" in helped.stdout
