"""The API with the emulator behind it, so that the console's Connect and Disconnect reach
Intuit's endpoints as in production; `console` is a browser-like client logged in to /ops."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyFactory
from tests.e2e_support import Books
from tests.helpers import asgi_client

EMULATOR = "http://qbo.test"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def ops_app(app: FastAPI, settings: Settings, books: Books) -> AsyncIterator[FastAPI]:
    """A second API app over the same database and Redis, reaching the `books` emulator
    (`app` is requested so that the shared clean-up empties what the test filled)."""
    application = create_app(
        settings.model_copy(update={"emulator_url": EMULATOR}), qbo_transport=books.transport
    )
    async with application.router.lifespan_context(application):
        yield application


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def log_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/ops/login")
    return await client.post("/ops/login", data={"api_key": key, "csrf": csrf_of(form)})


@pytest.fixture
async def admin_key(make_key: KeyFactory) -> str:
    return await make_key("ops", ["connections:admin"])


@pytest.fixture
async def visitor(ops_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of the console, not logged in."""
    async with asgi_client(ops_app) as c:
        yield c


@pytest.fixture
async def console(visitor: httpx.AsyncClient, admin_key: str) -> httpx.AsyncClient:
    """The client logged in with a `connections:admin` key."""
    answer = await log_in(visitor, admin_key)
    assert answer.status_code == 303, answer.text
    return visitor
