"""GET /sync-status: counts kept by triggers, lag, throughput, errors, budget, verdicts."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import utcnow
from app.events.models import Event
from app.status.models import EventCountDelta
from app.status.service import compact_event_counts, event_counts
from tests.fixtures.keys import KeyFactory
from tests.fixtures.world import World, post
from tests.support.factories import customer_event, invoice_event, invoice_with_parents


async def status_of(client: httpx.AsyncClient, key: str, **params: str) -> httpx.Response:
    return await client.get(
        "/sync-status", params=params, headers={"Authorization": f"Bearer {key}"}
    )


async def test_counts_kept_by_triggers_match_the_events(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await post(client, auth, *(customer_event(f"c{i}") for i in range(5)))
    batch = {"events": [invoice_event(f"inv{i}") for i in range(7)]}
    assert (await client.post("/events/batch", json=batch, headers=auth)).status_code == 200
    async with session_factory() as session:
        await session.execute(
            update(Event).where(Event.entity_type == "invoice").values(status="dead")
        )
        await session.execute(
            text("DELETE FROM events WHERE id IN (SELECT id FROM events LIMIT 2)")
        )
        await session.commit()
        truth = {
            (r.realm_id, r.status): r.n
            for r in await session.execute(
                select(Event.realm_id, Event.status, func.count().label("n")).group_by(
                    Event.realm_id, Event.status
                )
            )
        }
        assert await event_counts(session) == truth
        # Folding the deltas into the counts changes nothing a reader sees.
        assert await compact_event_counts(session) > 0
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(EventCountDelta)) == 0
        assert await event_counts(session) == truth
    assert sum(truth.values()) == 10


async def test_a_company_that_is_not_connected_is_failing(
    client: httpx.AsyncClient, auth: dict[str, str], make_key: KeyFactory
) -> None:
    await post(client, auth, customer_event("c1"), customer_event("c2"))
    key = await make_key("oncall", ["status:read"])

    answer = await status_of(client, key)

    assert answer.status_code == 200
    body = answer.json()
    assert body["verdict"] == "failing"
    (realm,) = body["realms"]
    assert realm["connection"] is None
    assert realm["counts"] == {"pending": 2}
    assert realm["reason"] == "not connected: 2 events wait for the company to be connected"
    assert realm["lag_seconds"] >= 0


async def test_a_syncing_company_reports_throughput_budget_and_errors(
    world: World, make_key: KeyFactory
) -> None:
    realm = (await world.connect()).realm
    await world.post(*invoice_with_parents("c1"))
    await world.drain()
    key = await make_key("oncall", ["status:read"])

    healthy = (await status_of(world.client, key, realm_id=realm)).json()

    (report,) = healthy["realms"]
    assert healthy["verdict"] == report["verdict"] == "ok"
    assert report["reason"] == "up to date"
    assert report["counts"] == {"synced": 4}
    assert report["synced_last_5_minutes"] == report["synced_last_hour"] == 4
    assert report["last_success_at"] is not None
    assert report["lag_seconds"] is None
    assert report["connection"]["status"] == "active"
    assert report["connection"]["company_name"] == "Acme Books"
    assert report["budget"]["requests_last_minute"] >= 2  # the sync's calls (one a batch)

    # A permanent failure makes the company degraded and says why.
    await world.post(customer_event("c9", data={"currency": "EUR"}))
    await world.drain()
    hurt = (await status_of(world.client, key, realm_id=realm)).json()
    (report,) = hurt["realms"]
    assert report["verdict"] == "degraded"
    assert report["reason"] == "1 dead events need attention"
    assert report["last_error"]["category"] == "permanent"
    assert "EUR" in report["last_error"]["message"]
    assert report["last_error"]["event_id"]

    # Nothing synced for an hour while events wait: failing.
    async with world.factory() as session:
        await session.execute(
            update(Event).values(
                synced_at=utcnow() - timedelta(hours=2), received_at=utcnow() - timedelta(hours=2)
            )
        )
        await session.execute(
            update(Event).where(Event.external_id == "c9").values(status="retrying")
        )
        await session.commit()
    stalled = (await status_of(world.client, key, realm_id=realm)).json()
    assert stalled["realms"][0]["verdict"] == "failing"
    assert stalled["realms"][0]["reason"] == "nothing synced for an hour while 1 events wait"


async def test_bad_requests_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], make_key: KeyFactory
) -> None:
    key = await make_key("oncall", ["status:read"])
    assert (await status_of(client, key, realm="1")).status_code == 422
    assert (await status_of(client, key, realm_id="x")).status_code == 422
    assert (await status_of(client, key, realm_id="123")).status_code == 404
    writer = await make_key("writer", ["events:write"])
    assert (await status_of(client, writer)).status_code == 403
    assert (await client.get("/sync-status")).status_code == 401
