"""An API whose Intuit webhook has a verifier token, so that signed deliveries get past it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from tests.conftest import remember_secret
from tests.helpers import asgi_client


@pytest.fixture(scope="session")
def verifier_token() -> str:
    token = secrets.token_urlsafe(24)
    remember_secret(token, kind="webhook verifier token")
    return token


@pytest.fixture
async def signed_app(
    app: FastAPI, settings: Settings, verifier_token: str
) -> AsyncIterator[FastAPI]:
    """A second API over the same database and Redis (`app` is requested so that the shared
    clean-up empties what the test filled)."""
    configured = settings.model_copy(
        update={"qbo_webhook_verifier_token": SecretStr(verifier_token)}
    )
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def signed_client(signed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(signed_app) as c:
        yield c
