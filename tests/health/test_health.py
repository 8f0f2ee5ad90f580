"""/health and /health/ready."""

from __future__ import annotations

import httpx
from arq.connections import ArqRedis
from pydantic import SecretStr

from app.config import Settings
from app.core.heartbeat import beat
from tests.support.helpers import asgi_client, started_app


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "postgres": "ok",
        "redis": "ok",
        "workers": "none seen in 30 s",
    }


async def test_not_ready_names_the_server_that_is_down(settings: Settings) -> None:
    # Port 1 refuses connections: Redis is unreachable while PostgreSQL is fine.
    broken = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    async with started_app(broken) as app, asgi_client(app, "http://t") as client:
        assert (await client.get("/health")).status_code == 200
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "unreachable: redis"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")


async def test_ready_reports_live_workers(client: httpx.AsyncClient, redis: ArqRedis) -> None:
    await beat(redis, "host-a:1")
    await beat(redis, "host-b:2")
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["workers"] == "ok: 2 alive"
    # A worker silent for longer than 30 s no longer counts.
    seconds, _ = await redis.time()
    await redis.zadd("qbo:workers", {"host-b:2": seconds - 31})
    assert (await client.get("/health/ready")).json()["checks"]["workers"] == "ok: 1 alive"
