"""`create_app()`: one self-contained emulator (its own state, its own clock)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.emulator import admin, api, oauth, pages
from app.emulator.config import EmulatorConfig
from app.emulator.persist import StateFile
from app.emulator.store import Store


def new_intuit_tid() -> str:
    """A transaction id in Intuit's format (`1-5f7349e0-0fd2bee86a8a83c67a77fbb2`)."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


# How Intuit spells the transaction-id header: `Intuit-Tid` on the Accounting API (every
# recorded sandbox answer, qbo_api VCR cassettes), `intuit_tid` on the OAuth endpoints
# (intuit/oauth-jsclient's mocks of token-endpoint answers).
API_TID_HEADER = b"intuit-tid"
OAUTH_TID_HEADER = b"intuit_tid"
OAUTH_PATHS = ("/oauth2/", "/v2/oauth2/", "/v1/openid_connect/", "/.well-known/", "/op/v1/")


def tid_header(path: str) -> bytes | None:
    """The header name Intuit uses for this path; None for the emulator's own pages."""
    if path.startswith("/v3/"):
        return API_TID_HEADER
    if path.startswith(OAUTH_PATHS) or path == "/connect/oauth2":
        return OAUTH_TID_HEADER
    return None


class IntuitTidMiddleware:
    """Adds Intuit's transaction id to every answer of its APIs, spelt as Intuit spells it:
    `Intuit-Tid` on the Accounting API, `intuit_tid` on the OAuth endpoints."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = tid_header(scope["path"])
        if name is None:
            await self.app(scope, receive, send)
            return
        tid = new_intuit_tid().encode("ascii")

        async def send_with_tid(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (name, tid)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_tid)


class SaveAfterChanges:
    """Tells the state file of every request that may have changed something (any method
    but GET, HEAD and OPTIONS), once its answer has been sent."""

    def __init__(self, app: ASGIApp, state_file: StateFile) -> None:
        self.app = app
        self.state_file = state_file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.state_file.changed()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Nothing to start (webhook delivery starts on the first change); on shutdown,
    cancel pending webhook timers and retries, close their HTTP client and write the
    state file, if any."""
    yield
    await store_of(app).webhooks.aclose()
    state_file: StateFile | None = app.state.state_file
    if state_file is not None:
        state_file.save()


def create_app(
    config: EmulatorConfig | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build an emulator app; all its state lives on `app.state.store`.

    Routes: `/` and `/companies/{realm}` (HTML), Intuit's OAuth paths, the Accounting
    API under `/v3/company/{realmId}`, and the admin API under `/admin`.
    `webhook_transport` carries webhook POSTs instead of the network (tests pass an
    `httpx.ASGITransport`). Used in-process without its lifespan, call
    `await store_of(app).webhooks.aclose()` when done. With `config.state_file` the
    companies, records and tokens are read from that file and written back after every
    change (`app.emulator.persist`); raises StateFileError if it cannot be read.
    """
    config = config or EmulatorConfig()
    app = FastAPI(
        title="QuickBooks Online emulator",
        description="Intuit's OAuth and Accounting API, with their rules.",
        version="1",
        lifespan=lifespan,
    )
    store = Store(config, webhook_transport=webhook_transport)
    app.state.store = store
    app.state.state_file = None
    if config.state_file is not None:
        app.state.state_file = StateFile(Path(config.state_file), store)
        app.state.state_file.load()
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(oauth.router, tags=["oauth"])
    app.include_router(admin.router)
    app.include_router(api.router, tags=["accounting"])
    app.add_middleware(IntuitTidMiddleware)
    if app.state.state_file is not None:
        app.add_middleware(SaveAfterChanges, state_file=app.state.state_file)
    return app


def store_of(app: FastAPI) -> Store:
    """The Store behind an app made by `create_app` (for in-process tests and scripts)."""
    store: Store = app.state.store
    return store
