"""POST /events/batch under load: concurrent batches sharing event ids never meet in a
deadlock, and a batch larger than one statement's bound parameters allow is stored whole."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.events.models import Event
from tests.support.factories import customer_event, item_event
from tests.support.helpers import asgi_client, count_events, started_app

BATCHES = 80
POOL = 240
PER_BATCH = 60


async def stored_per_event_id(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(
            select(Event.event_id, func.count()).group_by(Event.source, Event.event_id)
        )
        return {event_id: int(n) for event_id, n in rows}


async def test_concurrent_batches_sharing_event_ids_all_succeed(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rng = random.Random(14)
    pool = [customer_event(f"c{i}", event_id=f"shared-{i}") for i in range(POOL)]
    batches = [rng.sample(pool, PER_BATCH) for _ in range(BATCHES)]

    answers = await asyncio.gather(
        *(client.post("/events/batch", json={"events": b}, headers=auth) for b in batches)
    )

    failed = [(a.status_code, a.text[:300]) for a in answers if a.status_code != 200]
    assert not failed, f"{len(failed)} of {BATCHES} batches failed: {failed[:3]}"
    statuses: dict[str, list[int]] = defaultdict(list)
    ids: dict[str, set[str]] = defaultdict(set)
    for batch, answer in zip(batches, answers, strict=True):
        body = answer.json()
        assert (body["accepted"] + body["duplicates"], body["rejected"]) == (PER_BATCH, 0)
        for event, result in zip(batch, body["results"], strict=True):
            statuses[event["event_id"]].append(result["status"])
            ids[event["event_id"]].add(result["id"])
    sent = {e["event_id"] for b in batches for e in b}
    # Each event was created by exactly one batch; every other batch saw it as a repeat.
    for event_id in sent:
        assert statuses[event_id].count(202) == 1, (event_id, statuses[event_id])
        assert set(statuses[event_id]) <= {200, 202}
        assert len(ids[event_id]) == 1
    assert sum(a.json()["accepted"] for a in answers) == len(sent)
    stored = await stored_per_event_id(session_factory)
    assert stored == dict.fromkeys(sent, 1)


@pytest.fixture
async def big_batches(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API whose operator raised BATCH_MAX_EVENTS (and the body size to carry them);
    `app` is requested so that the shared clean-up empties what the test filled."""
    configured = settings.model_copy(
        update={"batch_max_events": 5000, "max_body_bytes": 8 * 1024 * 1024}
    )
    async with started_app(configured) as application, asgi_client(application) as c:
        yield c


async def test_a_batch_beyond_one_statements_parameters_is_stored_once(
    big_batches: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    unique = [item_event(f"i{i}", event_id=f"big-{i}") for i in range(2100)]
    invalid = [item_event(f"bad{i}", data={"unit_price": "x"}) for i in range(20)]
    events: list[dict[str, Any]] = [*unique, *unique[:30], *invalid]
    rng = random.Random(10)
    rng.shuffle(events)

    answer = await big_batches.post("/events/batch", json={"events": events}, headers=auth)

    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2100, 30, 20)
    first_seen: set[str] = set()
    for event, result in zip(events, body["results"], strict=True):
        if event in invalid:
            assert result["status"] == 422
            continue
        expected = 200 if event["event_id"] in first_seen else 202
        first_seen.add(event["event_id"])
        assert result["status"] == expected
    assert await count_events(session_factory) == 2100

    again = await big_batches.post("/events/batch", json={"events": unique}, headers=auth)

    assert again.status_code == 200, again.text[:500]
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 2100)
    stored = await stored_per_event_id(session_factory)
    assert stored == {e["event_id"]: 1 for e in unique}
