"""Hostile body shapes: over the size limit (declared or streamed without a length), nested
10,000 and 100,000 levels deep, or with 100,000 items, on every route that takes a JSON body.
Each is refused with a 4xx problem+json, never a 5xx, and nothing is stored; an oversized body
is refused before it is read (the stream is not drained) or parsed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.models import Callback
from app.drift.intuit import sign
from app.drift.models import QboChange
from app.events.models import Event
from tests.fixtures.keys import KeyFactory
from tests.support.factories import invoice_event, payment_event

Factory = async_sessionmaker[AsyncSession]
LIMIT = 1024 * 1024  # MAX_BODY_BYTES of the test settings (the default)
WEBHOOK_LIMIT = 4 * 1024 * 1024  # WEBHOOK_MAX_BODY_BYTES (the default): Intuit's deliveries
CHUNK = 64 * 1024
JSON = {"content-type": "application/json"}
# (method, path) of every route that reads a JSON body; the webhook's needs a signature.
BODY_ROUTES = [("POST", "/events"), ("POST", "/events/batch"), ("PUT", "/callbacks")]


async def stored(factory: Factory) -> int:
    async with factory() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Event, Callback, QboChange)
        ]
    return sum(int(c or 0) for c in counts)


class Stream:
    """A request body of `chunks` chunks that counts how many the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * CHUNK


def assert_problem(answer: httpx.Response, status: int | tuple[int, ...]) -> None:
    expected = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in expected, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def headers(make_key: KeyFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key('billing')}", **JSON}


def signed(body: bytes, token: str) -> dict[str, str]:
    return {"intuit-signature": sign(body, token), **JSON}


async def test_oversized_bodies_are_refused_unread(
    signed_client: httpx.AsyncClient,
    headers: dict[str, str],
    verifier_token: str,
    session_factory: Factory,
) -> None:
    routes = [*((m, p, headers, LIMIT) for m, p in BODY_ROUTES)]
    routes.append(("POST", "/webhooks/intuit", JSON, WEBHOOK_LIMIT))
    for method, path, sent, limit in routes:
        # Declared too long: answered from the header alone, not one byte read.
        declared = Stream(32)
        answer = await signed_client.request(
            method,
            path,
            content=declared,
            headers={**sent, "content-length": str(limit + 1)},
        )
        assert_problem(answer, 413)
        assert answer.json()["type"].endswith("/payload-too-large")
        assert answer.json()["detail"] == f"the body exceeds {limit} bytes"
        assert declared.pulled == 0, path

        # Streamed without a length (chunked): cut off just past the limit, 4x it offered.
        streamed = Stream(4 * limit // CHUNK)
        answer = await signed_client.request(method, path, content=streamed, headers=sent)
        assert_problem(answer, 413)
        assert streamed.pulled <= limit // CHUNK + 2, (path, streamed.pulled)

    # The webhook's body is refused by size even with a valid signature over it.
    big = b"[" + b" " * WEBHOOK_LIMIT + b"]"
    webhook = await signed_client.post(
        "/webhooks/intuit", content=big, headers=signed(big, verifier_token)
    )
    assert_problem(webhook, 413)
    assert await stored(session_factory) == 0


@pytest.mark.parametrize("depth", [10_000, 100_000])
async def test_deeply_nested_json_is_a_4xx(
    signed_client: httpx.AsyncClient,
    headers: dict[str, str],
    verifier_token: str,
    session_factory: Factory,
    depth: int,
) -> None:
    arrays = b"[" * depth + b"]" * depth
    objects = b'{"a":' * depth + b"1" + b"}" * depth
    for nested in (arrays, objects):
        event = (
            b'{"event_id": "e1", "realm_id": "1", "type": "customer.upserted", '
            b'"occurred_at": "2026-11-25T10:00:00Z", "data": ' + nested + b"}"
        )
        bodies = [
            ("POST", "/events", nested),
            ("POST", "/events", event),
            ("POST", "/events/batch", nested),
            ("POST", "/events/batch", b'{"events": [' + event + b"]}"),
            ("PUT", "/callbacks", nested),
            ("PUT", "/callbacks", b'{"url": "https://x.example", "secret": ' + nested + b"}"),
        ]
        for method, path, body in bodies:
            answer = await signed_client.request(method, path, content=body, headers=headers)
            assert_problem(answer, (400, 422))
        answer = await signed_client.post(
            "/webhooks/intuit", content=nested, headers=signed(nested, verifier_token)
        )
        assert_problem(answer, 400)
    assert await stored(session_factory) == 0


async def test_hundred_thousand_items_are_a_4xx(
    client: httpx.AsyncClient, headers: dict[str, str], session_factory: Factory
) -> None:
    many: list[dict[str, Any]] = [{}] * 100_000
    invoice = invoice_event(data={"lines": many})
    payment = payment_event(data={"applied_to": many})

    batch = await client.post(
        "/events/batch", content=json.dumps({"events": many}), headers=headers
    )
    assert_problem(batch, 422)
    assert batch.json()["errors"][0]["pointer"] == "/events"
    for body, pointer in ((invoice, "/data/lines"), (payment, "/data/applied_to")):
        answer = await client.post("/events", json=body, headers=headers)
        assert_problem(answer, 422)
        assert [e["pointer"] for e in answer.json()["errors"]] == [pointer]
        assert len(answer.content) < 2000  # one error, not 100,000
        inside = await client.post("/events/batch", json={"events": [body]}, headers=headers)
        assert inside.status_code == 200
        assert inside.json()["rejected"] == 1
        assert inside.json()["results"][0]["errors"][0]["pointer"] == f"/events/0{pointer}"
    assert await stored(session_factory) == 0
