"""Job hints: after commit, ask a worker to do now what Postgres already says is due.

Postgres holds the truth; a hint only spares the wait for a sweeper, which re-sends every
lost one. So sending a hint never raises for Redis trouble: it logs and gives up.

Some jobs run once at a time per id (arq keeps one queued job per id, and refuses a hint
while that job runs): one `sync_realm` per realm, one `deliver_callbacks` for all. Their
hints also set the job's dirty flag (a `FlaggedJob`): the running job clears the flag
before each look at the database and checks it before it ends, so work committed during
its last look is not left for the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from arq.connections import ArqRedis

from app.core.keys import EntityKey

logger = logging.getLogger(__name__)

SYNC_REALM = "sync_realm"
DELIVER_CALLBACKS = "deliver_callbacks"
PROCESS_CHANGES = "process_qbo_changes"
CDC_REALM = "cdc_realm"
DIRTY_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class FlaggedJob:
    """A job arq runs once at a time under `job_id`, and the dirty flag its hints set."""

    function: str
    job_id: str
    dirty_key: str
    args: tuple[str, ...] = ()


def realm_pump(realm_id: str) -> FlaggedJob:
    """The job that works through one realm's due records (`app.sync.pump`)."""
    return FlaggedJob(
        SYNC_REALM, sync_job_id(realm_id), f"qbo:pump:{{{realm_id}}}:dirty", (realm_id,)
    )


def sync_job_id(realm_id: str) -> str:
    return f"sync:{realm_id}"


# One delivery job at a time across all workers (`app.callbacks.delivery`).
CALLBACK_DELIVERY = FlaggedJob(DELIVER_CALLBACKS, "callbacks:deliver", "qbo:callbacks:dirty")


async def send_hint(redis: ArqRedis, job: FlaggedJob) -> bool:
    """Set the job's dirty flag, then enqueue it; True when arq queued a new job (False: one
    was queued or running already). Raises what Redis raises: callers log and go on."""
    await redis.set(job.dirty_key, b"1", ex=DIRTY_SECONDS)
    return await redis.enqueue_job(job.function, *job.args, _job_id=job.job_id) is not None


async def clear_dirty(redis: ArqRedis, job: FlaggedJob) -> None:
    """Called by the running job before it looks at the database."""
    await redis.delete(job.dirty_key)


async def is_dirty(redis: ArqRedis, job: FlaggedJob) -> bool:
    """Whether a hint came since the running job's last `clear_dirty`: it looks again."""
    return bool(await redis.exists(job.dirty_key))


async def enqueue_realms(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    """Hint each realm's pump; returns how many jobs were new. Never raises."""
    sent = 0
    for realm_id in dict.fromkeys(realm_ids):
        try:
            if await send_hint(redis, realm_pump(realm_id)):
                sent += 1
        except Exception:
            logger.warning("enqueue failed; the sweeper will retry", exc_info=True)
            return sent
    return sent


async def enqueue_sync(redis: ArqRedis, keys: Iterable[EntityKey]) -> int:
    """Hint the realms of these records (see `enqueue_realms`)."""
    return await enqueue_realms(redis, (key.realm_id for key in keys))


async def hint_deliveries(redis: ArqRedis) -> None:
    """Ask a worker to deliver callback notices now. Never raises; the delivery cron looks
    for due notices every SWEEP_INTERVAL_SECONDS anyway."""
    try:
        await send_hint(redis, CALLBACK_DELIVERY)
    except Exception:
        logger.warning("callback delivery hint failed; the cron will deliver", exc_info=True)


async def enqueue_changes(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    """Hint the job that classifies a realm's sightings of changes made in QBO. A hint
    refused while that job runs is not lost: the change sweeper looks every few seconds."""
    return await _enqueue_per_realm(redis, PROCESS_CHANGES, "changes", realm_ids)


async def enqueue_cdc(redis: ArqRedis, realm_ids: Iterable[str]) -> int:
    """Hint a realm's CDC pass (what webhooks may have missed)."""
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
