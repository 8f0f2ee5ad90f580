"""Job hints for the workers. Postgres holds the truth; the sweeper re-sends lost hints.

A hint is one `sync_realm` job per realm (arq keeps one queued job per id). Because arq
refuses a hint while that realm's job is running, every hint also sets the realm's
"dirty" flag: a running pump clears it before each look at the database and checks it
before it ends, so events that arrive during its last look are not left for the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)

from app.core.keys import EntityKey

logger = logging.getLogger(__name__)

SYNC_REALM = "sync_realm"
DIRTY_SECONDS = 3600


def sync_job_id(realm_id: str) -> str:
    return f"sync:{realm_id}"


def _dirty_key(realm_id: str) -> str:
    return f"qbo:pump:{{{realm_id}}}:dirty"


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


async def clear_dirty(redis: ArqRedis, realm_id: str) -> None:
    await redis.delete(_dirty_key(realm_id))


async def is_dirty(redis: ArqRedis, realm_id: str) -> bool:
    return bool(await redis.exists(_dirty_key(realm_id)))


async def enqueue_realms(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    """Mark each realm dirty and enqueue its pump; returns how many jobs were new.

    Never raises for Redis trouble: the events are already durable and the sweeper re-sends.
    """
    sent = 0
    for realm_id in dict.fromkeys(realm_ids):
        try:
            await redis.set(_dirty_key(realm_id), b"1", ex=DIRTY_SECONDS)
            job = await redis.enqueue_job(SYNC_REALM, realm_id, _job_id=sync_job_id(realm_id))
        except Exception:
            logger.warning("enqueue failed; the sweeper will retry", exc_info=True)
            return sent
        if job is not None:
            sent += 1
    return sent


async def enqueue_sync(redis: ArqRedis, keys: Iterable[EntityKey]) -> int:
    """Hint the realms of these records (see `enqueue_realms`)."""
    return await enqueue_realms(redis, (key.realm_id for key in keys))


PROCESS_CHANGES = "process_qbo_changes"
CDC_REALM = "cdc_realm"


async def enqueue_changes(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    """Hint the job that classifies a realm's sightings of changes made in QBO. A hint
    refused while that job runs is not lost: the change sweeper looks every few seconds."""
    return await _enqueue_per_realm(redis, PROCESS_CHANGES, "changes", realm_ids)


async def enqueue_cdc(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    return await _enqueue_per_realm(redis, CDC_REALM, "cdc", realm_ids)


async def _enqueue_per_realm(
    redis: ArqRedis, function: str, prefix: str, realm_ids: Iterable[str]
) -> int:
    sent = 0
    for realm_id in dict.fromkeys(realm_ids):
        try:
            job = await redis.enqueue_job(function, realm_id, _job_id=f"{prefix}:{realm_id}")
        except Exception:
            logger.warning("enqueue of %s failed; the sweeper will retry", function, exc_info=True)
            return sent
        if job is not None:
            sent += 1
    return sent
