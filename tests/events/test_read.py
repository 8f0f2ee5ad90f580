"""GET /events/{id} and GET /events."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from tests.support.factories import customer_event, invoice_event, item_event


async def test_one_event_shows_status_attempts_and_error(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    posted = (await client.post("/events", json=invoice_event(), headers=auth)).json()
    async with session_factory() as session:
        await session.execute(
            update(Event)
            .where(Event.id == posted["id"])
            .values(
                status="dead",
                attempts=3,
                qbo_id="130",
                last_error={"category": "validation", "message": "Duplicate", "code": "6140"},
            )
        )
        await session.commit()

    response = await client.get(posted["links"]["self"], headers=auth)

    assert response.status_code == 200
    event = response.json()
    assert event["status"] == "dead"
    assert event["attempts"] == 3
    assert event["qbo_id"] == "130"
    assert event["last_error"]["code"] == "6140"
    assert event["type"] == "invoice.upserted"
    assert event["source"] == "billing"
    assert event["received_at"].endswith("Z")


async def test_unknown_event_is_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(f"/events/{uuid.uuid4()}", headers=auth)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/events/not-a-uuid", headers=auth)).status_code == 404


async def test_listing_filters_newest_first_with_cursor(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ids = []
    for i in range(5):
        answer = await client.post("/events", json=customer_event(f"c{i}"), headers=auth)
        ids.append(answer.json()["id"])
    await client.post("/events", json=item_event("i1", realm_id="77"), headers=auth)

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"entity_type": "customer", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/events", params=params, headers=auth)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))

    by_realm = (await client.get("/events", params={"realm_id": "77"}, headers=auth)).json()
    assert [e["type"] for e in by_realm["items"]] == ["item.upserted"]
    by_ext = (await client.get("/events", params={"external_id": "c3"}, headers=auth)).json()
    assert [e["id"] for e in by_ext["items"]] == [ids[3]]
    pending = (await client.get("/events", params={"status": "pending"}, headers=auth)).json()
    assert len(pending["items"]) == 6
    synced = (await client.get("/events", params={"status": "synced"}, headers=auth)).json()
    assert synced["items"] == []


async def test_bad_listing_parameters_are_4xx(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for params in (
        {"cursor": "garbage"},
        {"status": "nope"},
        {"limit": 0},
        {"entity_type": "x"},
        {"stauts": "dead"},
        {"external_id": "a\u0000"},
        {"source": "x\u0000"},
        {"realm_id": "12a"},
    ):
        response = await client.get("/events", params=params, headers=auth)
        assert response.status_code == 422, params
