"""GET /metrics: counters of every process (kept in Redis) and per-realm gauges."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from app.core.metrics import EVENTS_INGESTED, Metrics
from tests.fixtures.keys import KeyFactory
from tests.fixtures.world import World, post
from tests.support.factories import customer_event, invoice_with_parents


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_after_a_sync(world: World, make_key: KeyFactory) -> None:
    realm = (await world.connect()).realm
    await world.post(
        *invoice_with_parents("c1"),
        customer_event("c9", data={"currency": "EUR"}),  # dead
    )
    await post(world.client, world.auth, customer_event("c5", realm_id="555"))  # never connected
    await world.drain()
    key = await make_key("prometheus", ["status:read"])

    answer = await world.client.get("/metrics", headers={"Authorization": f"Bearer {key}"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    got = samples(answer.text)
    ingested = "qbo_sync_events_ingested_total"
    assert got[(ingested, (("type", "customer.upserted"),))] == 3
    assert got[(ingested, (("type", "item.upserted"),))] == 2
    outcomes = "qbo_sync_sync_outcomes_total"
    assert got[(outcomes, (("category", "none"), ("result", "synced")))] == 4
    assert got[(outcomes, (("category", "permanent"), ("result", "dead")))] == 1
    requests = {k: v for k, v in got.items() if k[0] == "qbo_sync_qbo_requests_total"}
    assert sum(requests.values()) >= 3
    assert all(dict(labels)["status"] == "200" for _, labels in requests)
    histogram = {k: v for k, v in got.items() if k[0] == "qbo_sync_qbo_request_seconds_count"}
    assert sum(histogram.values()) == sum(requests.values())
    assert got[("qbo_sync_dead_events", (("realm_id", realm),))] == 1
    assert got[("qbo_sync_lag_seconds", (("realm_id", realm),))] == 0
    assert got[("qbo_sync_lag_seconds", (("realm_id", "555"),))] >= 0
    assert got[("qbo_sync_realm_verdict", (("realm_id", "555"), ("verdict", "failing")))] == 1
    assert got[("qbo_sync_realm_verdict", (("realm_id", realm), ("verdict", "degraded")))] == 1
    assert (
        got[("qbo_sync_open_events", (("realm_id", "555"), ("status", "waiting_connection")))] == 1
    )


async def test_counters_add_up_across_processes(
    client: httpx.AsyncClient, make_key: KeyFactory, redis_url: str
) -> None:
    # Two processes' recorders (separate connections) add to the same counters.
    for _ in range(2):
        connection = Redis.from_url(redis_url)
        await Metrics(connection).incr(EVENTS_INGESTED, {"type": "payment.voided"})
        await connection.aclose()
    key = await make_key("prometheus", ["status:read"])
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {key}"})).text
    assert samples(text)[("qbo_sync_events_ingested_total", (("type", "payment.voided"),))] == 2
    writer = await make_key("writer", ["events:write"])
    assert (
        await client.get("/metrics", headers={"Authorization": f"Bearer {writer}"})
    ).status_code == 403
