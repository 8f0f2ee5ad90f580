"""Which realm pumps are alive. A running `sync_realm` job holds its realm's owner key in
Redis; a job arq still holds `in progress` with no live owner belonged to a worker that was
killed, and is dropped so that arq accepts the realm's hints again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)

from app.core.hints import sync_job_id

logger = logging.getLogger(__name__)

# A running pump refreshes its realm's owner key; a pump whose worker was killed stops.
OWNER_SECONDS = 30
OWNER_REFRESH_SECONDS = 10


def _owner_key(realm_id: str) -> str:
    return f"qbo:pump:{{{realm_id}}}:owner"


@contextlib.asynccontextmanager
async def holding_pump(redis: ArqRedis, realm_id: str) -> AsyncIterator[None]:
    """Mark the realm's pump as alive for as long as the block runs."""

    async def refresh() -> None:
        while True:
            with contextlib.suppress(Exception):
                await redis.set(_owner_key(realm_id), b"1", ex=OWNER_SECONDS)
            await asyncio.sleep(OWNER_REFRESH_SECONDS)

    task = asyncio.create_task(refresh())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(Exception):
            await redis.delete(_owner_key(realm_id))


async def clear_stale_pump(redis: ArqRedis, realm_id: str) -> bool:
    """Drop the realm's job when arq holds it `in progress` but no live pump owns the realm
    (its worker was killed): arq would refuse every new hint until its job timeout ran
    out, minutes later. A pump that has only just started may be dropped too; that is
    harmless, since two pumps of one realm never sync the same record at once."""
    job_id = sync_job_id(realm_id)
    if await redis.exists(_owner_key(realm_id)):
        return False
    if not await redis.exists(in_progress_key_prefix + job_id):
        return False
    await redis.delete(
        in_progress_key_prefix + job_id, job_key_prefix + job_id, retry_key_prefix + job_id
    )
    await redis.zrem(default_queue_name, job_id)
    logger.warning("dropped the job of a pump whose worker died", extra={"realm_id": realm_id})
    return True
