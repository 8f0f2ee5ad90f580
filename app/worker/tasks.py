"""arq jobs. Wiring only: each reads its `WorkerContext`, opens a session and calls a service."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from arq import Retry

from app.callbacks.delivery import deliver_due, has_due
from app.callbacks.models import NoticeKind
from app.connections.notify import send_ops_notice
from app.connections.refresh import refresh_due_connections
from app.core.heartbeat import beat
from app.core.metrics import READ_ALERTS
from app.drift import jobs as drift_jobs
from app.drift.sightings import due_change_realms
from app.status.reads import due_alerts, fold_calls
from app.status.service import compact_event_counts
from app.sync.dispatch import due_realms, reclaim_orphans
from app.sync.pump import pump_realm
from app.uow import unit_of_work
from app.worker import watchdog
from app.worker.context import worker_context
from app.worker.pumps import clear_stale_pump, holding_pump

logger = logging.getLogger(__name__)


async def sync_realm(ctx: dict[str, Any], realm_id: str) -> str:
    """Work through one realm's due records (see `app.sync.pump`). Takes ids, not objects;
    safe to run twice.

    When the realm must wait (its budget, or the earliest retry of a record) the job defers
    itself to that time; Postgres keeps the schedule in case this hint is lost, and the
    sweeper re-sends it.
    """
    context = worker_context(ctx)
    async with holding_pump(context.redis, realm_id):
        outcome = await pump_realm(context.sync, realm_id)
    logger.debug("realm pump handled %d events", outcome.handled, extra={"realm_id": realm_id})
    if outcome.retry_in is not None:
        raise Retry(defer=max(outcome.retry_in, 0.0))
    return f"handled {outcome.handled}"


async def sweep_due_events(ctx: dict[str, Any]) -> int:
    """Re-send a hint for every realm with due events; arq drops hints already queued."""
    context = worker_context(ctx)
    async with unit_of_work(context.session_factory) as uow:
        orphans = await reclaim_orphans(uow.session)
    if orphans:
        logger.warning("%d records left syncing by a dead worker are due again", len(orphans))
    async with unit_of_work(context.session_factory, context.redis) as uow:
        realms = await due_realms(uow.session, context.settings.sweep_batch_size)
        for realm_id in realms:
            await clear_stale_pump(context.redis, realm_id)
        uow.hint_realms(realms)
    sent = uow.sent
    if sent:
        logger.info("sweeper re-enqueued %d realms", sent)
    return sent


async def compact_counts(ctx: dict[str, Any]) -> int:
    """Every 10 s: fold the event count deltas into the counts /sync-status reads."""
    context = worker_context(ctx)
    async with unit_of_work(context.session_factory) as uow:
        return await compact_event_counts(uow.session)


async def fold_qbo_calls(ctx: dict[str, Any]) -> int:
    """Every 30 s: fold the read meter's counts into PostgreSQL (losing Redis then loses at
    most that much), and announce each level of the month's read allowance reached: a
    metric, the ops webhook, a `reads.alert` notice to every callback."""
    context = worker_context(ctx)
    meter = context.sync.meter
    if meter is None:
        return 0
    async with unit_of_work(context.session_factory, context.redis) as uow:
        folded = await fold_calls(uow.session, meter, uow.commit)
    async with unit_of_work(context.session_factory, context.redis) as uow:
        alerts = await due_alerts(uow.session, meter)
        if alerts:
            uow.notice()
    for alert in alerts:
        if context.sync.metrics is not None:
            await context.sync.metrics.incr(READ_ALERTS, {"level": str(alert.level)})
        await send_ops_notice(context.settings, NoticeKind.READS_ALERT.value, alert.details())
    return folded


async def worker_heartbeat(ctx: dict[str, Any]) -> None:
    """Every 10 s: tell readiness checks that this worker is alive."""
    context = worker_context(ctx)
    await beat(context.redis, context.worker_id)
    watchdog.progress()


async def refresh_connection_tokens(ctx: dict[str, Any]) -> dict[str, str]:
    """Refresh every connection expiring soon or idle too long (single-flight per realm)."""
    context = worker_context(ctx)
    outcomes = await refresh_due_connections(context.tokens)
    for realm_id, outcome in outcomes.items():
        if outcome != "refreshed":
            logger.warning("token refresh: %s", outcome, extra={"realm_id": realm_id})
    return outcomes


async def process_qbo_changes(ctx: dict[str, Any], realm_id: str) -> str:
    """Classify a realm's sightings of changes made in QBO (see `app.drift`)."""
    context = worker_context(ctx)
    handled = await drift_jobs.process_realm_changes(context.sync, realm_id)
    return f"handled {handled}"


async def cdc_realm(ctx: dict[str, Any], realm_id: str) -> str:
    """One CDC pass for a realm: what webhooks may have missed."""
    context = worker_context(ctx)
    seen = await drift_jobs.cdc_realm(context.sync, realm_id)
    return f"seen {seen}"


async def sweep_changes(ctx: dict[str, Any]) -> int:
    """Every few seconds: hint realms with due sightings, and realms due for CDC."""
    context = worker_context(ctx)
    async with unit_of_work(context.session_factory, context.redis) as uow:
        uow.hint_changes(await due_change_realms(uow.session))
        settings = context.settings
        interval = timedelta(minutes=settings.cdc_interval_minutes)
        hooked = timedelta(minutes=settings.cdc_interval_with_webhooks_minutes)
        meter = context.sync.meter
        # The month's reads run low: only each company's daily sweep is left to CDC.
        daily_only = meter is not None and await meter.optional_paused()
        if interval:
            realms = await drift_jobs.cdc_due_realms(
                uow.session, interval, hooked or interval, daily_only=daily_only
            )
            uow.hint_cdc(realms)
    return uow.sent


async def deliver_callbacks(ctx: dict[str, Any]) -> str:
    """Send due callback notices (see `app.callbacks.delivery`); one such job at a time.

    Defers itself to the earliest retry when it is due within SWEEP_INTERVAL_SECONDS; later
    ones, and notices whose hint was lost, are brought back by `sweep_due_callbacks`.
    """
    context = worker_context(ctx)
    run = await deliver_due(context.callbacks)
    if run.again_in is not None:
        raise Retry(defer=max(run.again_in, 0.0))
    return f"attempted {run.attempted}"


async def sweep_due_callbacks(ctx: dict[str, Any]) -> bool:
    """Every SWEEP_INTERVAL_SECONDS: hint the delivery job when a callback notice is due."""
    context = worker_context(ctx)
    async with unit_of_work(context.session_factory, context.redis) as uow:
        due = await has_due(uow.session)
        if due:
            uow.notice()
    return due
