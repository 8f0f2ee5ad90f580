"""Notices reach the callers' receivers, signed, at least once, with every attempt recorded.

End to end: the API in process, the real arq worker settings, the emulator as QBO, and a
receiver app behind the worker's injectable callback transport.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.delivery import DeliveryDeps, callback_client, deliver_due
from app.callbacks.models import CallbackDelivery
from app.callbacks.service import enqueue_notice
from app.config import Settings
from app.connections.refresh import mark_needs_reauth
from app.core.cipher import TokenCipher
from app.core.hints import CALLBACK_DELIVERY
from app.core.keys import EntityKey
from app.sync.engine import sync_entity
from tests.fixtures.keys import KeyFactory
from tests.fixtures.logscan import remember_secret
from tests.fixtures.world import World, event_of, post
from tests.support.factories import customer_event, item_event
from tests.support.receiver import Receiver

SECRET = "billing-callback-secret-0123456789"
SHOP_SECRET = "shop-callback-secret-0123456789"


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], host: str, secret: str
) -> None:
    remember_secret(secret)
    answer = await client.put(
        "/callbacks", json={"url": f"http://{host}/hooks", "secret": secret}, headers=headers
    )
    assert answer.status_code == 200, answer.text


def _deps(settings: Settings, world: World, receiver: Receiver) -> DeliveryDeps:
    return DeliveryDeps(
        settings=settings,
        session_factory=world.factory,
        cipher=TokenCipher.from_settings(settings),
        http=callback_client(receiver.transport),
    )


async def _deliveries(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    answer = await client.get("/callbacks/deliveries", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


async def test_synced_events_are_noticed_signed_and_recorded(world: World) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)
    customer, item = customer_event("c1"), item_event("item-1")

    counts = await world.send(customer, item)

    assert counts == {"synced": 2}
    assert sorted(receiver.kinds()) == ["event.synced", "event.synced"]
    for got in receiver.received:
        assert got.valid(SECRET)
        assert abs(int(got.headers["x-qbosync-timestamp"]) - time.time()) < 60
        assert got.headers["content-type"] == "application/json"
        assert got.headers["x-qbosync-delivery"] == got.notice["id"]
        assert set(got.notice) == {"id", "kind", "created_at", "data"}
    by_event = {r.notice["data"]["event_id"]: r.notice["data"] for r in receiver.received}
    stored = await event_of(world.factory, str(customer["event_id"]))
    assert by_event[customer["event_id"]] == {
        "id": str(stored.id),
        "event_id": customer["event_id"],
        "realm_id": world.realm,
        "type": "customer.upserted",
        "external_id": "c1",
        "status": "synced",
        "qbo_id": stored.qbo_id,
        "attempts": stored.attempts,
    }
    assert by_event[item["event_id"]]["type"] == "item.upserted"

    listed = await _deliveries(world.client, world.auth)
    assert [d["status"] for d in listed] == ["delivered", "delivered"]
    for delivery in listed:
        assert delivery["attempts"] == 1
        [attempt] = delivery["attempt_log"]
        assert attempt["number"] == 1
        assert attempt["status_code"] == 200
        assert attempt["error"] is None
        assert attempt["duration_ms"] >= 0
    metrics = await world.client.get("/metrics", headers=world.auth)
    counter = 'qbo_sync_callback_deliveries_total{kind="event.synced",result="delivered"} 2.0'
    assert counter in metrics.text


async def test_a_dead_event_is_noticed_with_its_reason(world: World) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)

    counts = await world.send(customer_event("c9", data={"currency": "EUR"}))

    assert counts == {"dead": 1}
    [got] = receiver.received
    assert got.valid(SECRET)
    assert got.notice["kind"] == "event.dead"
    data = got.notice["data"]
    assert data["status"] == "dead"
    assert data["qbo_id"] is None
    assert set(data["last_error"]) == {"category", "code", "message", "intuit_tid"}
    assert data["last_error"]["category"] == "permanent"
    assert data["last_error"]["message"]


async def test_a_failing_receiver_gets_the_same_notice_until_it_answers(world: World) -> None:
    receiver = Receiver(answers=[500, 500])
    world.callbacks = receiver.transport
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)

    assert await world.send(customer_event("c1")) == {"synced": 1}

    assert len(receiver.received) == 3
    ids = {r.headers["x-qbosync-delivery"] for r in receiver.received}
    assert len(ids) == 1
    assert len({r.body for r in receiver.received}) == 1  # the same notice each time
    assert all(r.valid(SECRET) for r in receiver.received)
    [delivery] = await _deliveries(world.client, world.auth)
    assert delivery["id"] in ids
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert delivery["last_status_code"] == 200
    assert [a["number"] for a in delivery["attempt_log"]] == [1, 2, 3]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert [a["error"] for a in delivery["attempt_log"]] == ["HTTP 500", "HTTP 500", None]
    failed = await world.client.get("/callbacks/deliveries?status=failed", headers=world.auth)
    assert failed.json()["items"] == []


async def test_notices_go_only_to_the_events_source(
    world: World, make_key: KeyFactory, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    await world.connect()
    shop = {"Authorization": f"Bearer {await make_key('shop')}"}
    quiet = {"Authorization": f"Bearer {await make_key('quiet')}"}
    await _register(world.client, world.auth, "billing.test", SECRET)
    await _register(world.client, quiet, "quiet.test", SHOP_SECRET)
    # The shop sends events but has no callback: it gets nothing, nor does billing get them.
    world.auth, billing = shop, world.auth
    assert await world.send(customer_event("shop-1"), customer_event("shop-2")) == {"synced": 2}
    world.auth = billing
    assert await world.send(customer_event("billing-1")) == {"synced": 3}

    assert [r.notice["data"]["external_id"] for r in receiver.to("billing.test")] == ["billing-1"]
    assert receiver.to("quiet.test") == []
    async with session_factory() as session:
        sources = (await session.scalars(select(CallbackDelivery.source))).all()
    assert list(sources) == ["billing"]
    assert await _deliveries(world.client, shop) == []


async def test_needs_reauth_reaches_every_callback(
    world: World, app: FastAPI, make_key: KeyFactory
) -> None:
    receiver = Receiver()
    await world.connect()
    shop = {"Authorization": f"Bearer {await make_key('shop')}"}
    await _register(world.client, world.auth, "billing.test", SECRET)
    await _register(world.client, shop, "shop.test", SHOP_SECRET)
    keeper = world.keeper()

    await mark_needs_reauth(keeper, world.realm, "QBO says the company is gone (3100)")
    await mark_needs_reauth(keeper, world.realm, "already marked: no second notice")
    run = await deliver_due(_deps(world.settings, world, receiver))

    assert run.attempted == 2
    assert receiver.kinds() == ["connection.needs_reauth"] * 2
    for host, secret in (("billing.test", SECRET), ("shop.test", SHOP_SECRET)):
        [got] = receiver.to(host)
        assert got.valid(secret)
        assert got.notice["data"] == {
            "realm_id": world.realm,
            "company_name": "Acme Books",
            "reason": "QBO says the company is gone (3100)",
        }
    # Signed with the other's secret, each would be refused.
    assert not receiver.to("billing.test")[0].valid(SHOP_SECRET)


async def test_a_receiver_that_never_answers_is_given_up_after_the_last_attempt(
    world: World,
) -> None:
    receiver = Receiver(hang=5.0)
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)
    async with world.factory.begin() as session:
        for n in range(2):
            await enqueue_notice(session, "billing", "drift.found", {"n": n})
    settings = world.settings.model_copy(
        update={"callback_max_attempts": 2, "callback_retry_base_seconds": 0.01}
    )
    deps = _deps(settings, world, receiver)
    deps.timeout = 0.2

    started = time.monotonic()
    while time.monotonic() - started < 10:
        await deliver_due(deps)
        listed = await _deliveries(world.client, world.auth)
        if all(d["status"] != "pending" for d in listed):
            break

    assert time.monotonic() - started < 3  # two concurrent tries of 0.2 s each, twice
    assert len(receiver.received) == 4
    assert [d["status"] for d in listed] == ["failed", "failed"]
    for delivery in listed:
        assert [a["error"] for a in delivery["attempt_log"]] == ["no answer within 0.2 s"] * 2
        assert all(a["status_code"] is None for a in delivery["attempt_log"])
        assert delivery["last_error"] == "no answer within 0.2 s"


async def test_a_batched_backlog_is_noticed_once_per_event(world: World) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)
    events = [customer_event(f"c{i}", realm_id=world.realm) for i in range(20)]
    answer = await world.client.post("/events/batch", json={"events": events}, headers=world.auth)
    assert answer.json()["accepted"] == 20

    counts = await world.drain()

    assert counts == {"synced": 20}
    assert (await world.books.counters(world.realm))["by_endpoint"].get("POST batch", 0) >= 1
    got = sorted(r.notice["data"]["external_id"] for r in receiver.received)
    assert got == sorted(f"c{i}" for i in range(20))
    assert all(r.valid(SECRET) and r.notice["kind"] == "event.synced" for r in receiver.received)


async def test_a_superseded_event_gets_no_notice(world: World) -> None:
    receiver = Receiver()
    world.callbacks = receiver.transport
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)
    older = customer_event("c1", occurred_at="2026-11-25T10:00:00Z")
    newer = customer_event("c1", occurred_at="2026-11-25T11:00:00Z", data={"phone": "12345"})

    assert await world.send(older, newer) == {"superseded": 1, "synced": 1}

    assert [r.notice["data"]["event_id"] for r in receiver.received] == [newer["event_id"]]


async def test_the_sync_engine_hints_delivery_after_commit(world: World, redis: ArqRedis) -> None:
    await world.connect()
    await _register(world.client, world.auth, "billing.test", SECRET)
    await post(world.client, world.auth, customer_event("c1", realm_id=world.realm))
    deps = world.sync_deps(redis=redis)
    assert not await redis.exists("arq:job:" + CALLBACK_DELIVERY.job_id)

    result = await sync_entity(deps, EntityKey(world.realm, "customer", "c1"))

    assert result.handled == 1
    assert await redis.exists("arq:job:" + CALLBACK_DELIVERY.job_id)
