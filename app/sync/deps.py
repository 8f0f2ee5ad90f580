"""What the sync engine needs, built once per worker process (the worker's settings make
it; jobs, the drift job and tests pass it in)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.connections.refresh import TokenKeeper
from app.core.metrics import Metrics
from app.qbo import ReadMeter, RealmBudget
from app.sync.company import CompanyLookups


@dataclass
class SyncDeps:
    """What the engine needs, built once per worker process."""

    settings: Settings
    engine: AsyncEngine
    keeper: TokenKeeper
    redis: ArqRedis | None = None
    transport: httpx.AsyncBaseTransport | None = None
    budget: RealmBudget | None = None
    http: httpx.AsyncClient | None = None
    metrics: Metrics | None = None
    # Counts every QBO call and holds reads to the month's allowance (app.qbo.meter).
    meter: ReadMeter | None = None
    lookups: CompanyLookups = field(init=False)

    def __post_init__(self) -> None:
        self.lookups = CompanyLookups()
