"""The shared per-realm budget: exact windows across processes, leases, pauses."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from redis.asyncio import Redis

from app.config import Settings
from app.core.failures import Category
from app.qbo.client import QboClient
from app.qbo.errors import QboError
from app.qbo.limiter import YIELD_TO_BATCHES, BudgetWait, Limits, RealmBudget

# Small numbers so that a few seconds show every window filling up.
TEST_LIMITS = Limits(
    per_minute=25,
    per_second=4,
    in_flight=3,
    batches_per_minute=5,
    second_window_ms=500,
    minute_window_ms=4000,
)


def _hammer(redis_url: str, realm: str, seconds: float, out: Any) -> None:
    """One worker process: take slots as fast as allowed, hold each briefly."""

    async def run() -> list[tuple[float, float, bool]]:
        redis = Redis.from_url(redis_url)
        budget = RealmBudget(redis, TEST_LIMITS, max_sleep=10)
        spans: list[tuple[float, float, bool]] = []
        end = time.monotonic() + seconds

        async def lane(n: int) -> None:
            while time.monotonic() < end:
                batch = n == 0
                lease, granted = await budget.acquire_timed(realm, batch=batch)
                await asyncio.sleep(0.03)
                seconds, micros = await redis.time()
                await budget.release(realm, lease)  # a moment after `released`
                spans.append((granted, seconds + micros / 1e6, batch))

        await asyncio.gather(*(lane(n) for n in range(4)))
        await redis.aclose()
        return spans

    out.put(asyncio.run(run()))


def _most_in_window(times: list[float], span: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_processes_hammering_one_realm_never_exceed_a_window(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(redis_url, "4242", 6.0, out)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    spans = [span for _ in workers for span in out.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)

    grants = [g for g, _, _ in spans]
    # Every limit is used (the test would prove nothing otherwise) and never exceeded.
    assert _most_in_window(grants, 0.5) == TEST_LIMITS.per_second
    assert _most_in_window(grants, 4.0) == TEST_LIMITS.per_minute
    batches = [g for g, _, is_batch in spans if is_batch]
    assert 0 < _most_in_window(batches, 4.0) <= TEST_LIMITS.batches_per_minute
    # Grant times come from the script in whole milliseconds (truncated): up to 1 ms early.
    events = sorted([(g + 0.001, 1) for g, _, _ in spans] + [(r, -1) for _, r, _ in spans])
    flying = peak = 0
    for _, step in events:
        flying += step
        peak = max(peak, flying)
    assert peak <= TEST_LIMITS.in_flight


async def test_a_killed_workers_lease_expires(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    limits = Limits(in_flight=1, lease_seconds=0.5)
    budget = RealmBudget(redis, limits, max_sleep=0)
    await budget.acquire("7001")  # never released: the worker died
    with pytest.raises(BudgetWait):
        await budget.acquire("7001")
    await asyncio.sleep(0.6)
    assert await budget.try_acquire("7001", "next") == 0
    await redis.aclose()


async def test_a_pause_stops_every_worker_of_that_realm_only(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    one, other = RealmBudget(redis, Limits(), max_sleep=0), RealmBudget(redis, Limits())
    assert await one.pause("7002", 1.0) == pytest.approx(1.0, abs=0.05)
    assert await one.pause("7002", 0.2) == pytest.approx(1.0, abs=0.05)  # never shortened
    wait = await other.try_acquire("7002", "x")
    assert 0.8 < wait <= 1.0
    assert await other.try_acquire("7003", "y") == 0  # another realm goes on
    assert (await other.state("7002")).paused_for > 0.5
    await redis.aclose()


@respx.mock
async def test_a_429_from_qbo_pauses_the_realm_for_everyone(
    redis_url: str, settings: Settings
) -> None:
    redis = Redis.from_url(redis_url)
    budget = RealmBudget(redis, Limits())
    respx.get(url__regex=r".*/v3/company/7004/customer/1.*").mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "2"},
            json={"Fault": {"Error": [{"Message": "ThrottleExceeded", "code": "3001"}]}},
        )
    )
    client = QboClient(settings, "7004", SecretStr("token"), budget=budget)
    with pytest.raises(QboError) as refused:
        await client.read("Customer", "1")

    assert refused.value.category is Category.THROTTLED
    assert refused.value.retry_after is not None
    assert refused.value.retry_after >= 2
    other_worker = RealmBudget(redis, Limits(), max_sleep=0)
    with pytest.raises(BudgetWait) as waiting:
        await other_worker.acquire("7004")
    assert waiting.value.seconds >= 1.5
    assert await other_worker.try_acquire("7005", "z") == 0
    await redis.aclose()


async def test_singles_leave_room_for_batches_when_asked(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    budget = RealmBudget(redis, Limits(per_second=3, per_minute=100, batches_per_minute=5))
    token = YIELD_TO_BATCHES.set(lambda: True)
    try:
        assert await budget.try_acquire("7006", "a") == 0
        assert await budget.try_acquire("7006", "b") == 0
        assert await budget.try_acquire("7006", "c") > 0  # the third slot is kept ...
        assert await budget.try_acquire("7006", "d", batch=True) == 0  # ... for a batch
    finally:
        YIELD_TO_BATCHES.reset(token)
    assert await budget.try_acquire("7007", "e") == 0
    await redis.aclose()
