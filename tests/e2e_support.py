"""End-to-end support, a pytest plugin of the suite: the API (in process), PostgreSQL, Redis,
the arq worker with its real settings, and the QBO emulator app; nothing mocked between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from arq.worker import create_worker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Settings
from app.connections.service import save_connection
from app.core.cipher import TokenCipher
from app.emulator.app import create_app, store_of
from app.emulator.config import EmulatorConfig, LimitsConfig
from app.emulator.store import Store
from app.events.models import FINAL_STATUSES, Event
from app.qbo import read_company, token_set
from app.worker.settings import worker_settings
from app.worker.tasks import sweep_changes, sweep_due_callbacks, sweep_due_events
from tests.helpers import job_context

WAITING = ("waiting_dependency", "waiting_connection")


@dataclass
class Books:
    """The emulator as the tests see it: admin calls and the records of one company."""

    client: httpx.AsyncClient
    store: Store
    transport: httpx.AsyncBaseTransport

    async def company(self, country: str = "US", **fields: Any) -> str:
        answer = await self.client.post(
            "/admin/companies", json={"name": "Acme Books", "country": country, **fields}
        )
        realm_id: str = answer.json()["realm_id"]
        return realm_id

    async def records(self, realm_id: str, collection: str) -> list[dict[str, Any]]:
        answer = await self.client.get(f"/admin/companies/{realm_id}/{collection}")
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()
        return rows

    async def record(self, realm_id: str, collection: str, qbo_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/admin/companies/{realm_id}/{collection}/{qbo_id}")
        assert answer.status_code == 200, answer.text
        row: dict[str, Any] = answer.json()
        return row

    async def create(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """A record made in QBO by someone else (through the Accounting API)."""
        tokens = (await self.client.post(f"/admin/companies/{realm_id}/tokens", json={})).json()
        answer = await self.client.post(
            f"/v3/company/{realm_id}/{entity.lower()}",
            json=body,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert answer.status_code == 200, answer.text
        row: dict[str, Any] = answer.json()[entity]
        return row

    async def edit(
        self, realm_id: str, collection: str, qbo_id: str, **changes: Any
    ) -> dict[str, Any]:
        """An accountant's edit in QBO (the SyncToken moves on)."""
        answer = await self.client.patch(
            f"/admin/companies/{realm_id}/{collection}/{qbo_id}", json=changes
        )
        assert answer.status_code == 200, answer.text
        row: dict[str, Any] = answer.json()
        return row

    async def faults(self, realm_id: str, **rates: float) -> None:
        answer = await self.client.put(f"/admin/companies/{realm_id}/faults", json=rates)
        assert answer.status_code == 200, answer.text

    async def counters(self, realm_id: str) -> dict[str, Any]:
        counters: dict[str, Any] = (
            await self.client.get(f"/admin/companies/{realm_id}/counters")
        ).json()
        return counters


@pytest.fixture
async def books() -> AsyncIterator[Books]:
    config = EmulatorConfig(seed=11, limits=LimitsConfig(enabled=False), timeout_hold_seconds=0.05)
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://qbo.test") as client:
        yield Books(client, store_of(app), transport)


@pytest.fixture
def sync_settings(settings: Settings) -> Settings:
    """Fast retries, so that a test sees a whole backoff sequence in a second."""
    return settings.model_copy(
        update={
            "retry_base_seconds": 0.02,
            "retry_cap_seconds": 0.2,
            "callback_retry_base_seconds": 0.02,
            "callback_retry_cap_seconds": 0.2,
        }
    )


async def connect(
    books: Books,
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    country: str = "US",
    **company: Any,
) -> str:
    """A new emulator company connected as the OAuth callback connects one: tokens stored
    encrypted, CompanyInfo and Preferences read. Returns its realm id."""
    realm_id = await books.company(country, **company)
    minted = (
        await books.client.post(
            f"/admin/companies/{realm_id}/tokens",
            json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
        )
    ).json()
    tokens = token_set(minted, None)
    profile = await read_company(settings, realm_id, tokens.access_token, books.transport)
    async with factory() as session:
        await save_connection(
            session, settings, realm_id, tokens, profile, TokenCipher.from_settings(settings)
        )
        await session.commit()
    return realm_id


async def drain(
    settings: Settings,
    books: Books,
    factory: async_sessionmaker[AsyncSession],
    redis: Any,
    *,
    within: float = 60.0,
    settle: Iterable[str] = WAITING,
    callbacks: httpx.AsyncBaseTransport | None = None,
) -> dict[str, int]:
    """Run a real arq worker (burst mode) and the sweepers until every event has ended or
    waits (`settle`), and callback notices went to `callbacks`. Returns the count of events
    per status."""
    deadline = time.monotonic() + within
    allowed = {s.value for s in FINAL_STATUSES} | set(settle)
    while True:
        async with job_context(settings, redis) as ctx:
            await sweep_due_events(ctx)
            await sweep_due_callbacks(ctx)
            await sweep_changes(ctx)
        worker = create_worker(
            worker_settings(settings, books.transport, callbacks),
            burst=True,
            poll_delay=0.01,
            cron_jobs=[],
            handle_signals=False,
        )
        run = asyncio.ensure_future(worker.async_run())
        try:
            await asyncio.wait({run}, timeout=max(deadline - time.monotonic(), 1.0))
            if not run.done():
                import sys

                for t in asyncio.all_tasks():
                    t.print_stack(limit=6, file=sys.stderr)
                run.cancel()
        finally:
            await worker.close()
        async with factory() as session:
            statuses = list((await session.scalars(select(Event.status))).all())
        counts = {s.value: statuses.count(s) for s in set(statuses)}
        if set(counts) <= allowed:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"events did not settle: {counts}")
        await asyncio.sleep(0.05)


async def post(client: httpx.AsyncClient, auth: dict[str, str], *events: dict[str, Any]) -> None:
    for body in events:
        answer = await client.post("/events", json=body, headers=auth)
        assert answer.status_code == 202, answer.text


async def event_of(factory: async_sessionmaker[AsyncSession], event_id: str) -> Event:
    async with factory() as session:
        event = await session.scalar(select(Event).where(Event.event_id == event_id))
    assert event is not None
    return event


class World:
    """One connected realm and the pieces a test drives."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        books: Books,
        settings: Settings,
        factory: async_sessionmaker[AsyncSession],
        redis: ArqRedis,
    ) -> None:
        self.client, self.auth, self.books = client, auth, books
        self.settings, self.factory, self.redis = settings, factory, redis
        self.realm = ""
        # Where the worker sends callback notices (tests put a receiver app here).
        self.callbacks: httpx.AsyncBaseTransport | None = None

    async def connect(self, country: str = "US", **company: Any) -> World:
        self.realm = await connect(self.books, self.settings, self.factory, country, **company)
        return self

    async def send(self, *events: dict[str, Any]) -> dict[str, int]:
        for event in events:
            event["realm_id"] = self.realm
        await post(self.client, self.auth, *events)
        return await drain(
            self.settings, self.books, self.factory, self.redis, callbacks=self.callbacks
        )

    async def records(self, collection: str) -> list[dict[str, Any]]:
        return await self.books.records(self.realm, collection)

    async def event(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = await event_of(self.factory, str(body["event_id"]))
        answer = await self.client.get(f"/events/{stored.id}", headers=self.auth)
        assert answer.status_code == 200
        out: dict[str, Any] = answer.json()
        return out


@pytest.fixture
def world(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    books: Books,
    sync_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> World:
    """The pieces of an end-to-end test; `await world.connect()` adds a connected company."""
    return World(client, auth, books, sync_settings, session_factory, redis)
