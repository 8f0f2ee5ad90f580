"""The outbox: a job hint per entity after commit, and a sweeper that restores lost hints."""

from __future__ import annotations

from typing import Any

import httpx
from arq.connections import ArqRedis
from arq.worker import create_worker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.connections.models import Connection
from app.events.models import Event
from app.worker.settings import worker_settings
from app.worker.tasks import sweep_due_events
from tests.support.factories import customer_event, invoice_event, item_event
from tests.support.helpers import job_context


async def queued_entities(redis: ArqRedis) -> set[tuple[Any, ...]]:
    return {tuple(job.args) for job in await redis.queued_jobs()}


async def post_some(client: httpx.AsyncClient, auth: dict[str, str]) -> set[tuple[Any, ...]]:
    events = [
        customer_event("c1"),
        customer_event("c1", data={"display_name": "Renamed"}),  # same entity: one hint
        customer_event("c2"),
        item_event("i1"),
    ]
    for body in events:
        assert (await client.post("/events", json=body, headers=auth)).status_code == 202
    batch = {"events": [invoice_event("inv1"), invoice_event("inv2", realm_id="555")]}
    assert (await client.post("/events/batch", json=batch, headers=auth)).status_code == 200
    # One job per realm, however many records and events.
    return {(events[0]["realm_id"],), ("555",)}


async def test_intake_enqueues_one_job_per_realm(
    client: httpx.AsyncClient, auth: dict[str, str], redis: ArqRedis
) -> None:
    expected = await post_some(client, auth)
    assert await queued_entities(redis) == expected
    assert len(await redis.queued_jobs()) == len(expected)


async def test_sweeper_restores_every_job_after_redis_is_wiped(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    redis: ArqRedis,
    settings: Settings,
) -> None:
    expected = await post_some(client, auth)
    await redis.flushdb()
    assert await queued_entities(redis) == set()

    async with job_context(settings, redis) as ctx:
        restored = await sweep_due_events(ctx)

        assert restored == len(expected)
        assert await queued_entities(redis) == expected
        # Hints that are still queued are not doubled by the next sweep.
        assert await sweep_due_events(ctx) == 0
    assert len(await redis.queued_jobs()) == len(expected)


async def test_worker_parks_events_of_a_realm_without_connection(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await post_some(client, auth)
    # Realm 555 is connected, but its company details were never read: it waits too, saying so.
    async with session_factory() as session:
        session.add(Connection(realm_id="555", environment="emulator", status="active"))
        await session.commit()

    # Without the sweeper cron: in burst mode it would keep the queue from ever emptying.
    worker = create_worker(worker_settings(settings), burst=True, poll_delay=0.05, cron_jobs=[])
    try:
        await worker.async_run()
    finally:
        await worker.close()

    async with session_factory() as session:
        rows = (await session.execute(select(Event.realm_id, Event.status, Event.last_error))).all()
    assert {status for _, status, _ in rows} == {"waiting_connection"}
    assert {realm for realm, _, error in rows if error} == {"555"}
    assert "reconnect" in next(error["message"] for _, _, error in rows if error)
    assert worker.jobs_failed == 0
