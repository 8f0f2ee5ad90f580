"""Job hints for the workers. Postgres holds the truth; the sweeper re-sends lost hints.

A hint is one `sync_realm` job per realm (arq keeps one queued job per id). Because arq
refuses a hint while that realm's job is running, every hint also sets the realm's
"dirty" flag: a running pump clears it before each look at the database and checks it
before it ends, so events that arrive during its last look are not left for the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from arq.connections import ArqRedis

from app.events.service import EntityKey

logger = logging.getLogger(__name__)

SYNC_REALM = "sync_realm"
DIRTY_SECONDS = 3600


def sync_job_id(realm_id: str) -> str:
    return f"sync:{realm_id}"


def _dirty_key(realm_id: str) -> str:
    return f"qbo:pump:{{{realm_id}}}:dirty"


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
