"""The API application: create_app() builds it; the lifespan owns the engine and Redis pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from app.bodylimit import BodySizeLimit
from app.callbacks.router import router as callbacks_router
from app.callbacks.targets import system_resolve
from app.config import Settings, get_settings
from app.connections.router import router as connections_router
from app.core.cipher import TokenCipher
from app.core.metrics import Metrics
from app.db import create_engine, create_session_factory
from app.devservers import with_servers
from app.drift.router import router as drift_router
from app.drift.webhook_router import INTUIT_PATH
from app.drift.webhook_router import router as webhooks_router
from app.errors import install_error_handlers
from app.events.router import router as events_router
from app.events.schemas import EVENT_TYPES
from app.health.router import router as health_router
from app.logs import configure_logging
from app.mappings.router import router as mappings_router
from app.metrics.router import router as metrics_router
from app.ops.router import install_ops_console
from app.ops.sessions import OpsSessions, signing_key
from app.qbo import LazyOAuth, Limits, ReadMeter, RealmBudget
from app.redis_client import redis_client
from app.status.reads import month_base_loader
from app.status.router import router as status_router
from app.sync.company import CompanyLookups
from app.sync.router import documents as documents_router
from app.sync.router import router as preview_router


def create_app(
    settings: Settings | None = None, qbo_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """Build the API. Servers are resolved at start-up (embedded ones when no URL is set).

    `qbo_transport` carries every call to Intuit (tests put the emulator's app or respx there).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        resolved = await asyncio.to_thread(with_servers, settings)
        database_url, redis_url = resolved.server_urls()
        engine = create_engine(
            database_url,
            pool_size=resolved.db_pool_size,
            max_overflow=resolved.db_max_overflow,
        )
        # No ping here: the API starts without Redis and /health/ready says so.
        redis = redis_client(redis_url)
        app.state.settings = resolved
        app.state.engine = engine
        app.state.session_factory = create_session_factory(engine)
        app.state.autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        app.state.redis = redis
        app.state.budget = RealmBudget(redis, Limits.from_settings(resolved))
        app.state.meter = ReadMeter(
            redis,
            resolved.qbo_monthly_read_allowance,
            base_loader=month_base_loader(app.state.session_factory),
        )
        # Token exchanges, refreshes and revocations count as OAuth calls.
        app.state.oauth.meter = app.state.meter
        app.state.metrics = Metrics(redis)
        app.state.ops_sessions = OpsSessions(
            redis,
            signing_key(resolved.token_encryption_keys[0]),
            timedelta(hours=resolved.ops_session_hours),
        )
        try:
            yield
        finally:
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="qbo-sync",
        version="0.1.0",
        summary="Keeps QuickBooks Online in step with your systems.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.qbo_transport = qbo_transport
    app.state.cipher = TokenCipher.from_settings(settings)
    app.state.oauth = LazyOAuth(settings, qbo_transport)
    # The company lists previews read (terms, classes, tax codes, ...), cached per process.
    app.state.company_lookups = CompanyLookups()
    # How PUT /callbacks resolves a URL's host (tests put a fixed table here).
    app.state.callback_resolver = system_resolve
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        per_path={INTUIT_PATH: settings.webhook_max_body_bytes},
    )
    install_error_handlers(app, EVENT_TYPES)
    app.include_router(health_router)
    app.include_router(events_router)
    app.include_router(preview_router)
    app.include_router(documents_router)
    app.include_router(callbacks_router)
    app.include_router(connections_router)
    app.include_router(mappings_router)
    app.include_router(status_router)
    app.include_router(metrics_router)
    app.include_router(webhooks_router)
    app.include_router(drift_router)
    install_ops_console(app)
    return app
