"""API keys: bearer auth on every route but /health*, scopes, revocation, hashes only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.routes import iter_routes
from app.security import ApiKey, hash_key, revoke_api_key
from tests.support.factories import customer_event

# Public on purpose: liveness, the interactive docs of the schema, and the OAuth callback
# (Intuit's redirect brings a person's browser; the single-use state is the proof).
# The ops console (/ops) logs people in with a key and then uses a session: tested below.
# Intuit's webhooks carry its signature instead of a key (tests/security/test_signatures.py).
PUBLIC_PREFIXES = (
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/connections/callback",
    "/ops",
    "/webhooks/intuit",
)


def protected_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (
            method,
            path.replace("{event_id:uuid}", "00000000-0000-0000-0000-000000000000").replace(
                "{realm_id:realm}", "123"
            ),
        )
        for method, path in iter_routes(app)
        if method != "HEAD" and not path.startswith(PUBLIC_PREFIXES)
    ]


async def test_every_route_but_health_needs_a_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    routes = protected_routes(app)
    assert ("POST", "/events") in routes
    assert ("GET", "/events") in routes
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer qbs_unknown"}, {"Authorization": "Basic x"}):
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"] == "application/problem+json"


async def test_every_console_page_needs_a_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    pages = [
        (method, path.replace("{event_id:uuid}", "00000000-0000-0000-0000-000000000000"))
        for method, path in iter_routes(app)
        if path.startswith("/ops") and method != "HEAD"
    ]
    assert ("POST", "/ops/events/00000000-0000-0000-0000-000000000000/retry") in pages
    for method, path in pages:
        path = path.replace("{realm_id}", "123")
        response = await client.request(
            method, path, headers={"Authorization": "Bearer qbs_unknown"}, data={"csrf": "x"}
        )
        if path == "/ops/login":
            # The login form itself; a POST with a forged form token is refused.
            assert response.status_code in (200, 403), (method, path)
            continue
        assert response.status_code == 303, (method, path)
        assert response.headers["location"] == "/ops/login"


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/health/ready")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/events", "events:write"),
        ("POST", "/events/batch", "events:write"),
        ("GET", "/events", "events:read"),
        ("GET", "/events/00000000-0000-0000-0000-000000000000", "events:read"),
        ("POST", "/events/00000000-0000-0000-0000-000000000000/retry", "events:write"),
        ("GET", "/mappings", "events:read"),
        ("POST", "/connections", "connections:admin"),
        ("GET", "/connections", "connections:admin"),
        ("GET", "/connections/123", "connections:admin"),
        ("DELETE", "/connections/123", "connections:admin"),
        ("PUT", "/callbacks", "events:write"),
        ("GET", "/callbacks", "events:write"),
        ("DELETE", "/callbacks", "events:write"),
        ("GET", "/callbacks/deliveries", "events:read"),
        ("GET", "/drift", "status:read"),
        ("GET", "/sync-status", "status:read"),
    ],
)
async def test_a_key_without_the_scope_is_403(
    client: httpx.AsyncClient, make_key: Any, method: str, path: str, needed: str
) -> None:
    others = [
        s
        for s in ("events:write", "events:read", "connections:admin", "status:read")
        if s != needed
    ]
    key = await make_key(scopes=others)
    response = await client.request(
        method, path, headers={"Authorization": f"Bearer {key}"}, json=customer_event()
    )
    assert response.status_code == 403
    assert needed in response.json()["detail"]


async def test_revoked_key_is_refused(
    client: httpx.AsyncClient, make_key: Any, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    key = await make_key("billing", ["events:write"])
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.post("/events", json=customer_event(), headers=headers)).status_code == 202

    async with session_factory() as session:
        assert await revoke_api_key(session, "billing")
        await session.commit()

    response = await client.post("/events", json=customer_event(), headers=headers)
    assert response.status_code == 401


async def test_only_a_hash_of_the_key_is_stored(
    make_key: Any, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    key = await make_key("billing")
    async with session_factory() as session:
        row = (await session.scalars(select(ApiKey))).one()
    assert row.key_hash == hash_key(key)
    assert key not in repr(row.__dict__)
