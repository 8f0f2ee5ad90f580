"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core.heartbeat import FRESH_SECONDS, alive
from app.errors import problem

router = APIRouter(prefix="/health", tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("", summary="The process is alive")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _check_postgres(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get(
    "/ready",
    summary="PostgreSQL and Redis are reachable",
    responses={503: {"content": {"application/problem+json": {}}, "description": "Not ready"}},
)
async def ready(request: Request) -> Any:
    """200 when both answer within 2 s; 503 naming each one that does not. `workers` says
    how many workers sent a heartbeat in the last 30 s (reported, not required)."""
    checks = {"postgres": _check_postgres, "redis": _check_redis}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(request), CHECK_TIMEOUT_S)
            results[name] = "ok"
        except Exception as err:
            results[name] = f"unavailable: {type(err).__name__}"
    failing = [n for n, r in results.items() if r != "ok"]
    if not failing:
        # Reported, not required: the API takes events without workers (they wait, durable).
        try:
            count = await asyncio.wait_for(alive(request.app.state.redis), CHECK_TIMEOUT_S)
            results["workers"] = (
                f"ok: {count} alive" if count else f"none seen in {FRESH_SECONDS} s"
            )
        except Exception as err:
            results["workers"] = f"unknown: {type(err).__name__}"
    if failing:
        return problem(
            503,
            "unavailable",
            "Not ready",
            f"unreachable: {', '.join(failing)}",
            instance=request.url.path,
            checks=results,
        )
    return JSONResponse({"status": "ready", "checks": results})
