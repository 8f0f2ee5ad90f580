"""POST /events/batch: one transaction, each event answered on its own."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.factories import customer_event, invoice_event, item_event
from tests.support.helpers import count_events


async def test_a_bad_item_does_not_reject_the_others(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    events = [
        customer_event("c1"),
        customer_event("c2", data={"display_name": "bad:name"}),
        item_event("i1"),
        invoice_event("inv1", data={"lines": []}),
    ]
    response = await client.post("/events/batch", json={"events": events}, headers=auth)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 2)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202, 422, 202, 422]
    assert body["results"][1]["errors"][0]["pointer"] == "/events/1/data/display_name"
    assert body["results"][3]["errors"][0]["pointer"] == "/events/3/data/lines"
    assert body["results"][0]["links"]["self"] == f"/events/{body['results'][0]['id']}"
    assert await count_events(session_factory) == 2


async def test_repeats_inside_and_across_batches(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    first = customer_event("c1")
    clash = {**first, "data": {**first["data"], "display_name": "Other"}}
    stored = await client.post("/events", json=item_event("i1", event_id="seen"), headers=auth)

    response = await client.post(
        "/events/batch",
        json={
            "events": [
                first,
                first,
                clash,
                item_event("i1", event_id="seen"),
                item_event("i9", event_id="seen"),
            ]
        },
        headers=auth,
    )

    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 200, 409, 200, 409]
    assert results[0]["id"] == results[1]["id"]
    assert results[3]["id"] == stored.json()["id"]
    assert await count_events(session_factory) == 2


async def test_batch_size_is_capped(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    events = [customer_event(f"c{i}") for i in range(501)]
    response = await client.post("/events/batch", json={"events": events}, headers=auth)

    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/events"
    assert await count_events(session_factory) == 0


async def test_five_hundred_events_in_one_batch(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    events = [customer_event(f"c{i}") for i in range(500)]
    response = await client.post("/events/batch", json={"events": events}, headers=auth)

    assert response.status_code == 200
    assert response.json()["accepted"] == 500
    assert await count_events(session_factory) == 500


async def test_empty_or_malformed_batch_is_a_4xx(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    bodies: list[object] = [{"events": []}, {"events": "x"}, {}, [1, 2]]
    for body in bodies:
        response = await client.post("/events/batch", json=body, headers=auth)
        assert response.status_code == 422, body
