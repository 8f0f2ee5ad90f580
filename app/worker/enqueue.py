"""Job hints for the workers. Postgres holds the truth; the sweeper re-sends lost hints."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from arq.connections import ArqRedis

from app.events.service import EntityKey

logger = logging.getLogger(__name__)

SYNC_ENTITY = "sync_entity"


def sync_job_id(key: EntityKey) -> str:
    # One queued job per entity: arq refuses a second job with the same id while one waits.
    return f"sync:{key.realm_id}:{key.entity_type}:{key.external_id}"


async def enqueue_sync(redis: ArqRedis, keys: Iterable[EntityKey]) -> int:
    """Enqueue one `sync_entity` job per distinct entity; returns how many were new.

    Never raises for Redis trouble: the events are already durable and the sweeper re-sends.
    """
    sent = 0
    for key in dict.fromkeys(keys):
        try:
            job = await redis.enqueue_job(
                SYNC_ENTITY,
                key.realm_id,
                key.entity_type,
                key.external_id,
                _job_id=sync_job_id(key),
            )
        except Exception:
            logger.warning("enqueue failed; the sweeper will retry", exc_info=True)
            return sent
        if job is not None:
            sent += 1
    return sent
