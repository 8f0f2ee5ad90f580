"""POST /events/{id}/retry: a dead event goes back to pending and is hinted again."""

from __future__ import annotations

import uuid

import httpx
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from tests.support.factories import customer_event, invoice_event, payment_event, ref_event


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


async def _post_dead(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: async_sessionmaker[AsyncSession],
    body: dict[str, object],
    error: dict[str, str],
) -> str:
    posted = (await client.post("/events", json=body, headers=auth)).json()
    async with factory() as session:
        await session.execute(
            update(Event).where(Event.id == posted["id"]).values(status="dead", last_error=error)
        )
        await session.commit()
    return str(posted["id"])


async def test_a_retry_brings_back_the_events_that_died_because_of_its_record(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
) -> None:
    def dependency(parent: str) -> dict[str, str]:
        return {"category": "dependency", "message": f"{parent} failed", "parent": parent}

    parent = await _post_dead(
        client,
        auth,
        session_factory,
        customer_event("c1"),
        {"category": "permanent", "message": "x"},
    )
    child = await _post_dead(
        client, auth, session_factory, invoice_event("i1", "c1"), dependency("customer:c1")
    )
    grandchild = await _post_dead(
        client, auth, session_factory, payment_event("p1", "c1"), dependency("invoice:i1")
    )
    delete = await _post_dead(
        client,
        auth,
        session_factory,
        ref_event("payment.deleted", "p1"),
        dependency("payment:p1"),
    )
    other = await _post_dead(
        client, auth, session_factory, invoice_event("i2", "c2"), dependency("customer:c2")
    )
    own_fault = await _post_dead(
        client,
        auth,
        session_factory,
        invoice_event("i3", "c1"),
        {"category": "permanent", "message": "6070"},
    )
    await redis.flushdb()

    retried = await client.post(f"/events/{parent}/retry", headers=auth)

    assert retried.status_code == 200
    assert retried.json()["status"] == "pending"
    async with session_factory() as session:
        rows = {str(e.id): e for e in (await session.scalars(select(Event))).all()}
    for revived in (child, grandchild, delete):
        assert rows[revived].status == "pending"
        assert rows[revived].attempts == 0
        assert rows[revived].note == f"sent back to pending with the retry of event {parent}"
        assert rows[revived].last_error is not None  # kept for context
    assert rows[other].status == "dead"  # died because of another customer
    assert rows[own_fault].status == "dead"  # died of its own fault
    assert len(await redis.queued_jobs()) == 1
    # Retrying another dead child brings back nothing of this chain a second time.
    again = await client.post(f"/events/{other}/retry", headers=auth)
    assert again.status_code == 200
    async with session_factory() as session:
        assert await session.scalar(select(Event.status).where(Event.id == own_fault)) == "dead"
