"""What every arq job works with, built once per worker process.

arq hands each job a `dict[str, Any]`; ours holds one `WorkerContext` under CONTEXT_KEY,
built in `on_startup`, and every job reads it through `worker_context(ctx)`, so a job's
dependencies are typed attributes rather than string keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.callbacks.delivery import DeliveryDeps, callback_client
from app.config import Settings
from app.connections.refresh import TokenKeeper
from app.core.cipher import TokenCipher
from app.core.heartbeat import worker_id
from app.core.metrics import Metrics
from app.db import create_engine, create_session_factory
from app.qbo import LazyOAuth, Limits, ReadMeter, RealmBudget, http_client
from app.status.reads import month_base_loader
from app.sync.deps import SyncDeps

CONTEXT_KEY = "qbo_sync"


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """One worker's settings, Redis, database pool and the dependencies of each domain's
    jobs. Build it with `build`; `close` releases what it opened."""

    settings: Settings
    redis: ArqRedis
    worker_id: str
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    tokens: TokenKeeper
    sync: SyncDeps
    callbacks: DeliveryDeps

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: ArqRedis,
        qbo_transport: httpx.AsyncBaseTransport | None = None,
        callback_transport: httpx.AsyncBaseTransport | None = None,
    ) -> WorkerContext:
        """Everything the jobs need; opens no connection yet. Settings must carry resolved
        server URLs. The transports route Intuit's calls and callback notices elsewhere
        (tests pass an in-process emulator)."""
        # A realm pump runs a lane per call in flight; each lane holds one connection (its
        # records' locks) and briefly a second. The pool keeps what two realms' pumps at
        # full width use: a connection opened beyond it is closed on return, and the next
        # one prepares every statement anew (a soak of 3 realms on 2 workers peaked at 35).
        lanes = settings.qbo_limit_in_flight
        jobs = settings.worker_max_jobs
        engine = create_engine(
            settings.server_urls()[0], pool_size=lanes * 4 + 4, max_overflow=jobs * lanes
        )
        session_factory = create_session_factory(engine)
        metrics = Metrics(redis)
        meter = ReadMeter(
            redis,
            settings.qbo_monthly_read_allowance,
            base_loader=month_base_loader(session_factory),
        )
        tokens = TokenKeeper(
            settings=settings,
            session_factory=session_factory,
            oauth=LazyOAuth(settings, qbo_transport, meter),
            cipher=TokenCipher.from_settings(settings),
            notice_transport=None,
            metrics=metrics,
        )
        return cls(
            settings=settings,
            redis=redis,
            worker_id=worker_id(),
            engine=engine,
            session_factory=session_factory,
            tokens=tokens,
            sync=SyncDeps(
                settings=settings,
                engine=engine,
                keeper=tokens,
                redis=redis,
                transport=qbo_transport,
                budget=RealmBudget(redis, Limits.from_settings(settings)),
                http=http_client(qbo_transport),
                metrics=metrics,
                meter=meter,
            ),
            callbacks=DeliveryDeps(
                settings=settings,
                session_factory=session_factory,
                cipher=tokens.cipher,
                http=callback_client(callback_transport, policy=settings.callback_targets),
                redis=redis,
                metrics=metrics,
            ),
        )

    async def close(self) -> None:
        """Close the HTTP clients and the database pool."""
        if self.sync.http is not None:
            await self.sync.http.aclose()
        await self.callbacks.http.aclose()
        await self.engine.dispose()


def worker_context(ctx: Mapping[str, Any]) -> WorkerContext:
    """The context `on_startup` stored in arq's ctx. Raises KeyError when there is none."""
    context = ctx[CONTEXT_KEY]
    if not isinstance(context, WorkerContext):
        raise TypeError(f"ctx[{CONTEXT_KEY!r}] is a {type(context).__name__}")
    return context
