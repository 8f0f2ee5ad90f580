"""A key reads its own source's events only (its name is their `source`), and the mappings
of the records its events wrote; `events:read_all` reads every source. Another source's
event is 404, exactly like one that does not exist, on every route that names one; asking
`GET /events` for another source is 403, naming the scope that would allow it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from app.mappings.models import EntityMapping
from tests.fixtures.keys import KeyFactory
from tests.support.factories import customer_event

Factory = async_sessionmaker[AsyncSession]
REALM = "9130355555555555"
READER = ["events:write", "events:read"]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _post(client: httpx.AsyncClient, headers: dict[str, str], external_id: str) -> str:
    answer = await client.post(
        "/events", json=customer_event(external_id, realm_id=REALM), headers=headers
    )
    assert answer.status_code == 202, answer.text
    ident: str = answer.json()["id"]
    return ident


async def _listed(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "/events", **params: Any
) -> list[str]:
    answer = await client.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return sorted(i["external_id"] for i in answer.json()["items"])


async def test_a_key_reads_only_its_own_sources_events(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    billing = _bearer(await make_key("billing", READER))
    shop = _bearer(await make_key("shop", READER))
    billing_event = await _post(client, billing, "bill-x1")
    shop_event = await _post(client, shop, "shop-x1")

    theirs = await client.get(f"/events/{billing_event}", headers=shop)
    unknown = uuid.uuid4()
    missing = await client.get(f"/events/{unknown}", headers=shop)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    # The same answer as for an id that does not exist: nothing tells them apart.
    assert theirs.json()["detail"] == missing.json()["detail"].replace(str(unknown), billing_event)
    assert "bill-x1" not in theirs.text
    assert (await client.get(f"/events/{shop_event}", headers=shop)).status_code == 200

    assert await _listed(client, shop) == ["shop-x1"]
    assert await _listed(client, shop, realm_id=REALM, external_id="bill-x1") == []
    assert await _listed(client, shop, source="shop") == ["shop-x1"]
    assert await _listed(client, billing) == ["bill-x1"]

    other = await client.get("/events", params={"source": "billing"}, headers=shop)
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"
    assert "events:read_all" in other.json()["detail"]
    nobody = await client.get("/events", params={"source": "no-such-source"}, headers=shop)
    assert nobody.status_code == 403  # the same whether that source exists or not


async def test_events_read_all_reads_every_source(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    billing = _bearer(await make_key("billing", READER))
    shop = _bearer(await make_key("shop", READER))
    await _post(client, billing, "bill-x1")
    shop_event = await _post(client, shop, "shop-x1")
    # On its own: events:read_all includes events:read.
    auditor = _bearer(await make_key("auditor", ["events:read_all"]))

    assert await _listed(client, auditor) == ["bill-x1", "shop-x1"]
    assert await _listed(client, auditor, source="shop") == ["shop-x1"]
    one = await client.get(f"/events/{shop_event}", headers=auditor)
    assert one.status_code == 200
    assert one.json()["source"] == "shop"
    # Its own notices only: deliveries are per callback, whatever the scope.
    deliveries = await client.get("/callbacks/deliveries", headers=auditor)
    assert deliveries.status_code == 200
    # Reading is not writing.
    refused = await client.post("/events", json=customer_event("audit-x1"), headers=auditor)
    assert refused.status_code == 403


async def test_another_sources_event_cannot_be_retried_nor_seen_through_retry(
    client: httpx.AsyncClient, make_key: KeyFactory, session_factory: Factory
) -> None:
    billing = _bearer(await make_key("billing", READER))
    shop = _bearer(await make_key("shop", ["events:write", "events:read_all"]))
    dead = await _post(client, billing, "bill-x1")
    pending = await _post(client, billing, "bill-x2")
    async with session_factory.begin() as session:
        await session.execute(update(Event).where(Event.id == dead).values(status="dead"))

    for ident in (dead, pending):
        answer = await client.post(f"/events/{ident}/retry", headers=shop)
        assert answer.status_code == 404, answer.text
        assert "bill-x1" not in answer.text
        assert "pending" not in answer.text
    async with session_factory() as session:
        stored = await session.get(Event, uuid.UUID(dead))
    assert stored is not None
    assert stored.status == "dead"

    assert (await client.post(f"/events/{pending}/retry", headers=billing)).status_code == 409
    retried = await client.post(f"/events/{dead}/retry", headers=billing)
    assert retried.status_code == 200
    assert retried.json()["status"] == "pending"


async def test_mappings_show_the_records_of_the_keys_own_events(
    client: httpx.AsyncClient, make_key: KeyFactory, session_factory: Factory
) -> None:
    billing = _bearer(await make_key("billing", READER))
    shop = _bearer(await make_key("shop", READER))
    auditor = _bearer(await make_key("auditor", ["events:read_all"]))
    await _post(client, billing, "bill-x1")
    await _post(client, shop, "shop-x1")
    # One record both send: a mapping is per company, so it is both sources'.
    await _post(client, billing, "both-x")
    await _post(client, shop, "both-x")
    async with session_factory.begin() as session:
        for n, external_id in enumerate(("bill-x1", "shop-x1", "both-x", "nobodys")):
            session.add(
                EntityMapping(
                    realm_id=REALM,
                    entity_type="customer",
                    external_id=external_id,
                    qbo_id=str(100 + n),
                    sync_token="0",
                )
            )
        # The same external id in another company is another record, which shop never sent.
        session.add(
            EntityMapping(
                realm_id="42",
                entity_type="customer",
                external_id="shop-x1",
                qbo_id="7",
                sync_token="0",
            )
        )

    assert await _listed(client, billing, "/mappings") == ["bill-x1", "both-x"]
    assert await _listed(client, shop, "/mappings") == ["both-x", "shop-x1"]
    assert await _listed(client, shop, "/mappings", qbo_id="100") == []
    everything = await _listed(client, auditor, "/mappings")
    assert everything == ["bill-x1", "both-x", "nobodys", "shop-x1", "shop-x1"]
