"""Test fixtures: real PostgreSQL and Redis, a fresh database per run, migrations applied.

TEST_DATABASE_URL / TEST_REDIS_URL select existing servers; otherwise embedded ones are
started under .data/test (kept between runs so that only the first run pays for initdb).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import migrate_to_head
from app.config import Environment, Settings
from app.connections.crypto import TokenDecryptError
from app.connections.models import Connection
from app.connections.tokens import MissingTokensError, read_tokens
from app.db import Base
from app.devservers import (
    create_database,
    drop_database,
    start_embedded_postgres,
    start_embedded_redis,
)
from app.main import create_app
from app.models import load_all_models
from app.security import Scope, create_api_key
from tests.support.helpers import asgi_client

pytest_plugins = [
    "tests.fixtures.world",
    "tests.fixtures.logscan",
    "tests.fixtures.qbo",
    "tests.fixtures.ops",
    "tests.fixtures.signed",
    "tests.fixtures.browser",
]

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / ".data" / "test"
ALL_SCOPES = [s.value for s in Scope]

KeyFactory = Callable[..., Awaitable[str]]
# Set by tests/security/test_log_secrets.py for the run it scans: every secret the run uses is
# written here, one per line.
SECRETS_FILE = os.environ.get("QBO_SYNC_SECRETS_FILE")


def remember_secret(*values: str | None, kind: str = "secret") -> None:
    """Every run searches its own logs and output for these at the end (tests/fixtures/
    logscan.py); `kind` ("API key", ...) is what a failure names instead of the value."""
    # Imported here: as a plugin listed above, it must not be imported before pytest loads it.
    from tests.fixtures import logscan

    logscan.remember(kind, *values)
    if SECRETS_FILE:
        with open(SECRETS_FILE, "a", encoding="utf-8") as out:
            out.writelines(f"{v}\n" for v in values if v)


@pytest.fixture(scope="session")
def server_database_url() -> str:
    """A URL of a database on the test server from which new databases can be created."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        return given
    return start_embedded_postgres(TEST_DATA / "postgres", database="postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        return given
    return start_embedded_redis(TEST_DATA / "redis")


@pytest.fixture(scope="session")
async def database_url(server_database_url: str) -> AsyncIterator[str]:
    """A fresh database for this run, migrated to head, dropped afterwards."""
    name = f"qbo_sync_test_{secrets.token_hex(4)}"
    url = await create_database(server_database_url, name)
    settings = Settings(database_url=url, redis_url="redis://unused")
    await asyncio.to_thread(migrate_to_head, settings)
    yield url
    await drop_database(server_database_url, name)


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings(
        _env_file=None,  # a developer's .env must not change the tests
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=TEST_DATA,
        sweep_interval_seconds=1,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    remember_secret(
        *(k.get_secret_value() for k in settings.token_encryption_keys),
        kind="token encryption key",
    )
    remember_secret(settings.oauth_client[1].get_secret_value(), kind="OAuth client secret")
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
def session_factory(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.session_factory
    return factory


@pytest.fixture
def redis(app: FastAPI) -> ArqRedis:
    r: ArqRedis = app.state.redis
    return r


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts with empty tables and an empty Redis database."""
    yield
    if "app" not in request.fixturenames:
        return
    application: FastAPI = request.getfixturevalue("app")
    # Every run searches its output for the tokens it used (tests/fixtures/logscan.py).
    async with application.state.session_factory() as session:
        for connection in await session.scalars(select(Connection)):
            # Tests of key rotation store tokens under keys of their own, and a
            # disconnected company has none: skip those.
            with contextlib.suppress(MissingTokensError, TokenDecryptError, TypeError, ValueError):
                access, refresh = read_tokens(connection, application.state.cipher)
                remember_secret(access.get_secret_value(), kind="QBO access token")
                remember_secret(refresh.get_secret_value(), kind="QBO refresh token")
    load_all_models()
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with application.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    await application.state.redis.flushdb()


@pytest.fixture
def make_key(session_factory: async_sessionmaker[AsyncSession]) -> KeyFactory:
    """Create an API key; returns the key. Default: every scope."""

    async def factory(name: str | None = None, scopes: list[str] | None = None) -> str:
        async with session_factory() as session:
            key = await create_api_key(
                session,
                name or f"caller-{secrets.token_hex(3)}",
                [Scope(s) for s in (scopes if scopes is not None else ALL_SCOPES)],
            )
            await session.commit()
        remember_secret(key, kind="API key")
        return key

    return factory


@pytest.fixture
async def auth(make_key: KeyFactory) -> dict[str, str]:
    """Headers of a key named `billing` holding every scope."""
    return {"Authorization": f"Bearer {await make_key('billing')}"}
