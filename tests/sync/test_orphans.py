"""What a killed worker leaves behind is taken up again at once: its records left `syncing`
(never one a live sync holds), and its realm's job that arq still holds in progress."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.hints import enqueue_realms, sync_job_id
from app.core.keys import EntityKey
from app.db import utcnow
from app.events.models import Event
from app.sync.dispatch import reclaim_orphans
from app.sync.locks import lock_id
from app.uow import unit_of_work
from app.worker.pumps import clear_stale_pump, holding_pump
from tests.fixtures.world import post
from tests.support.factories import customer_event


async def test_only_unheld_syncing_records_are_reclaimed(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await post(client, auth, customer_event("dead-worker"), customer_event("live-worker"))
    lease = utcnow() + timedelta(minutes=6)
    async with session_factory.begin() as session:
        await session.execute(update(Event).values(status="syncing", next_attempt_at=lease))
        realm = await session.scalar(select(Event.realm_id).limit(1))
    assert realm is not None
    engine: AsyncEngine = session_factory.kw["bind"]
    async with engine.connect() as live:
        # A live sync holds its record's lock for as long as it works on it.
        key = EntityKey(realm, "customer", "live-worker")
        assert await live.scalar(select(func.pg_try_advisory_lock(lock_id(key))))
        async with unit_of_work(session_factory) as uow:
            reclaimed = await reclaim_orphans(uow.session)
        assert reclaimed == [EntityKey(realm, "customer", "dead-worker")]
        await live.scalar(select(func.pg_advisory_unlock(lock_id(key))))
    async with session_factory() as session:
        rows = await session.execute(select(Event.external_id, Event.next_attempt_at))
        due = {external_id: at for external_id, at in rows}
    assert due["dead-worker"] <= utcnow()
    assert due["live-worker"] == lease


async def test_a_dead_pumps_job_is_dropped_so_the_realm_can_be_hinted(redis: ArqRedis) -> None:
    realm = "9130000000000001"
    job = sync_job_id(realm)
    # A worker was killed while running the realm's job: arq still holds it in progress.
    await redis.set(in_progress_key_prefix + job, b"1", ex=300)
    await redis.set(job_key_prefix + job, b"x", ex=300)
    assert await enqueue_realms(redis, [realm]) == 0
    assert await clear_stale_pump(redis, realm)
    assert await enqueue_realms(redis, [realm]) == 1
    # A live pump keeps its job.
    await redis.set(in_progress_key_prefix + job, b"1", ex=300)
    async with holding_pump(redis, realm):
        await asyncio.sleep(0)
        assert not await clear_stale_pump(redis, realm)
    assert await redis.exists(in_progress_key_prefix + job)
