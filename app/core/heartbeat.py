"""Worker heartbeats in Redis, so that readiness can tell whether anyone is syncing."""

from __future__ import annotations

import os
import socket

from redis.asyncio import Redis

KEY = "qbo:workers"
FRESH_SECONDS = 30
FORGET_SECONDS = 3600


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _redis_now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return float(seconds) + float(micros) / 1_000_000


async def beat(redis: Redis, worker: str) -> None:
    """Record that `worker` is alive now (on Redis' clock, shared by every machine)."""
    now = await _redis_now(redis)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(KEY, {worker: now})
        pipe.zremrangebyscore(KEY, "-inf", now - FORGET_SECONDS)
        await pipe.execute()


async def alive(redis: Redis, within: float = FRESH_SECONDS) -> int:
    """How many workers sent a heartbeat in the last `within` seconds."""
    now = await _redis_now(redis)
    return int(await redis.zcount(KEY, now - within, "+inf"))


async def forget(redis: Redis, worker: str) -> None:
    """A worker stopping cleanly is no longer counted (a killed one ages out in 30 s)."""
    await redis.zrem(KEY, worker)
