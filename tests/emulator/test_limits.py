"""Intuit's per-realm limits: 500 per minute, 10 per second, 10 in flight, 40 batch calls
a minute; beyond them HTTP 429 with Fault 3001. The clock is frozen and moved by hand."""

from __future__ import annotations

import asyncio
from typing import Any

from app.emulator.config import EmulatorConfig, LimitsConfig
from tests.fixtures.qbo import Qbo, emulator_company, fault_code


def config(**limits: Any) -> EmulatorConfig:
    return EmulatorConfig(frozen_clock=True, seed=3, limits=LimitsConfig(**limits))


async def statuses(qbo: Qbo, count: int, path: str = "item/1") -> list[int]:
    return [(await qbo.get(path)).status_code for _ in range(count)]


async def test_ten_per_second() -> None:
    async with emulator_company(config()) as qbo:
        assert await statuses(qbo, 10) == [200] * 10
        throttled = await qbo.get("item/1")
        assert (throttled.status_code, fault_code(throttled)) == (429, "3001")
        fault = throttled.json()["Fault"]
        assert fault["type"] == "SERVICE"
        assert fault["Error"][0]["Message"] == (
            "message=ThrottleExceeded; errorCode=003001; statusCode=429"
        )
        qbo.store.clock.advance(1)
        assert (await qbo.get("item/1")).status_code == 200


async def test_five_hundred_per_minute_and_counters() -> None:
    async with emulator_company(config(requests_per_second=None)) as qbo:
        assert set(await statuses(qbo, 500)) == {200}
        assert (await qbo.get("item/1")).status_code == 429
        qbo.store.clock.advance(30)
        assert (await qbo.get("item/1")).status_code == 429
        qbo.store.clock.advance(30)
        assert (await qbo.get("item/1")).status_code == 200
        counters = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/counters")).json()
        assert counters["requests_served"] == 503
        assert counters["throttled_429"] == 2
        assert counters["by_endpoint"]["GET item"] == 503
        assert counters["by_status"] == {"200": 501, "429": 2}


async def test_forty_batch_calls_per_minute() -> None:
    async with emulator_company(config(requests_per_second=None)) as qbo:
        body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT COUNT(*) FROM Item"}]}
        for _ in range(40):
            assert (await qbo.post("batch", body)).status_code == 200
        throttled = await qbo.post("batch", body)
        assert (throttled.status_code, fault_code(throttled)) == (429, "3001")
        assert (await qbo.get("item/1")).status_code == 200  # plain calls still pass
        qbo.store.clock.advance(60)
        assert (await qbo.post("batch", body)).status_code == 200


async def test_ten_in_flight() -> None:
    async with emulator_company(config(requests_per_second=None)) as qbo:
        await qbo.client.put(f"/admin/companies/{qbo.realm_id}/faults", json={"latency_ms": 200})
        answers = await asyncio.gather(*(qbo.get("item/1") for _ in range(11)))
        assert sorted(r.status_code for r in answers) == [200] * 10 + [429]
        assert (await qbo.get("item/1")).status_code == 200


async def test_limits_can_be_switched_off_and_changed() -> None:
    async with emulator_company(config(enabled=False)) as qbo:
        assert set(await statuses(qbo, 30)) == {200}
        changed = await qbo.client.put("/admin/limits", json={"requests_per_second": 2})
        assert changed.json()["requests_per_second"] == 2
        qbo.store.clock.advance(1)
        assert await statuses(qbo, 3) == [200, 200, 429]
        await qbo.client.patch("/admin/config", json={"limits": {"enabled": False}})
        assert set(await statuses(qbo, 5)) == {200}


async def test_limits_are_per_realm() -> None:
    async with emulator_company(config()) as qbo:
        other = (await qbo.client.post("/admin/companies", json={"name": "Other"})).json()
        tokens = (await qbo.client.post(f"/admin/companies/{other['realm_id']}/tokens")).json()
        assert await statuses(qbo, 11) == [200] * 10 + [429]
        response = await qbo.client.get(
            f"/v3/company/{other['realm_id']}/item/1",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert response.status_code == 200
