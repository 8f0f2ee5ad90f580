"""POST /events/{id}/retry: a dead event goes back to pending and is hinted again."""

from __future__ import annotations

import uuid

import httpx
from arq.connections import ArqRedis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from tests.factories import customer_event


async def test_a_dead_event_is_replayed(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> None:
    posted = (await client.post("/events", json=customer_event("c9"), headers=auth)).json()
    async with session_factory() as session:
        await session.execute(
            update(Event)
            .where(Event.id == posted["id"])
            .values(status="dead", attempts=7, last_error={"category": "permanent", "message": "x"})
        )
        await session.commit()
    await redis.flushdb()

    retried = await client.post(f"/events/{posted['id']}/retry", headers=auth)

    assert retried.status_code == 200
    body = retried.json()
    assert body["status"] == "pending"
    assert body["attempts"] == 0
    assert body["last_error"]["message"] == "x"  # kept for context
    assert [tuple(j.args) for j in await redis.queued_jobs()] == [(body["realm_id"],)]
    again = await client.post(f"/events/{posted['id']}/retry", headers=auth)
    assert again.status_code == 409
    assert "pending" in again.json()["detail"]


async def test_retry_of_an_unknown_event_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.post(f"/events/{uuid.uuid4()}/retry", headers=auth)).status_code == 404
