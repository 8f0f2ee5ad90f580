"""arq worker configuration, built from Settings."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from arq import cron
from arq.connections import RedisSettings

from app.config import Settings
from app.core.heartbeat import forget
from app.logs import configure_logging
from app.redis_client import redis_client
from app.worker import watchdog
from app.worker.context import CONTEXT_KEY, WorkerContext, worker_context
from app.worker.tasks import (
    cdc_realm,
    compact_counts,
    deliver_callbacks,
    fold_qbo_calls,
    process_qbo_changes,
    refresh_connection_tokens,
    sweep_changes,
    sweep_due_callbacks,
    sweep_due_events,
    sync_realm,
    worker_heartbeat,
)


async def _progress(ctx: dict[str, Any]) -> None:
    watchdog.progress()


def worker_settings(
    settings: Settings,
    qbo_transport: httpx.AsyncBaseTransport | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
) -> type:
    """A WorkerSettings class for `arq.run_worker`. Settings must carry resolved server URLs.

    `qbo_transport` routes every Intuit call (OAuth and API) elsewhere: tests pass an
    in-process emulator. `callback_transport` does the same for callback notices (default:
    the network).
    """
    redis_url = settings.server_urls()[1]

    async def on_startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings.log_level)
        ctx[CONTEXT_KEY] = WorkerContext.build(
            settings, ctx["redis"], qbo_transport, callback_transport
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        context = worker_context(ctx)
        with contextlib.suppress(Exception):
            await forget(context.redis, context.worker_id)
        await context.close()

    step = settings.sweep_interval_seconds
    return type(
        "WorkerSettings",
        (),
        {
            "functions": [sync_realm, deliver_callbacks, process_qbo_changes, cdc_realm],
            "cron_jobs": [
                cron(sweep_due_events, second=set(range(0, 60, step)), run_at_startup=True),
                cron(sweep_due_callbacks, second=set(range(0, 60, step)), run_at_startup=True),
                # Every minute: tokens live an hour and are refreshed REFRESH_AHEAD_MINUTES early.
                cron(refresh_connection_tokens, second={30}, run_at_startup=True),
                # Not unique: every worker must beat, not one per tick.
                cron(
                    worker_heartbeat,
                    second=set(range(0, 60, 10)),
                    run_at_startup=True,
                    unique=False,
                ),
                cron(compact_counts, second=set(range(5, 60, 10))),
                # Twice a minute: the read meter's counts into PostgreSQL.
                cron(fold_qbo_calls, second={15, 45}, run_at_startup=True),
                cron(sweep_changes, second=set(range(2, 60, 5)), run_at_startup=True),
            ],
            "redis_settings": RedisSettings.from_dsn(redis_url),
            "redis_pool": redis_client(redis_url),
            "on_startup": on_startup,
            # Any job starting or ending is progress (see app.worker.watchdog).
            "on_job_start": _progress,
            "after_job_end": _progress,
            "on_shutdown": on_shutdown,
            "max_jobs": settings.worker_max_jobs,
            # No kept results: a finished job's id must be free for the next hint at once.
            "keep_result": 0,
            "job_timeout": 300,
            # A realm's job deferred for its budget should resume the moment it may.
            "poll_delay": 0.1,
            # Retries are scheduled from Postgres (attempts, give-up time); arq only carries
            # the deferral, so its own try count must never end a job.
            "max_tries": 1_000_000,
            "health_check_interval": 10,
        },
    )
