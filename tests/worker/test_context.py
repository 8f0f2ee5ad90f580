"""Every job reads one typed context, and every hint names a job the worker runs."""

from __future__ import annotations

from typing import Any

import pytest
from arq.connections import ArqRedis

from app.config import Settings
from app.core import hints
from app.worker.context import CONTEXT_KEY, WorkerContext, worker_context
from app.worker.settings import worker_settings


def unused_servers() -> Settings:
    """Settings naming servers that are never reached."""
    return Settings(
        _env_file=None, database_url="postgresql://unused@/db", redis_url="redis://unused"
    )


def test_every_hint_names_a_job_of_the_worker() -> None:
    settings = unused_servers()
    jobs = {f.__name__ for f in worker_settings(settings).functions}  # type: ignore[attr-defined]
    hinted = {
        hints.SYNC_REALM,
        hints.DELIVER_CALLBACKS,
        hints.PROCESS_CHANGES,
        hints.CDC_REALM,
        hints.realm_pump("1").function,
        hints.CALLBACK_DELIVERY.function,
    }
    assert hinted <= jobs


async def test_the_context_is_built_without_connecting_and_read_by_type() -> None:
    settings = unused_servers()
    redis = ArqRedis.from_url(settings.server_urls()[1])
    context = WorkerContext.build(settings, redis)
    try:
        ctx: dict[str, Any] = {"redis": redis, CONTEXT_KEY: context}
        assert worker_context(ctx) is context
        assert context.sync.keeper is context.tokens
        assert context.callbacks.session_factory is context.session_factory
    finally:
        await context.close()
        await redis.aclose()


def test_a_ctx_without_the_context_is_refused() -> None:
    with pytest.raises(KeyError):
        worker_context({"redis": None})
    with pytest.raises(TypeError, match="ctx\\['qbo_sync'\\] is a dict"):
        worker_context({CONTEXT_KEY: {"settings": None}})
