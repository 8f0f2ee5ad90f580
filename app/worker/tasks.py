"""arq jobs. Wiring only: each opens a session and calls a service."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

from app.connections.refresh import refresh_due_connections
from app.db import session_scope
from app.events.service import EntityKey
from app.sync.dispatch import due_entities
from app.sync.engine import sync_entity as sync_one
from app.worker.enqueue import enqueue_sync

logger = logging.getLogger(__name__)


async def sync_entity(
    ctx: dict[str, Any], realm_id: str, entity_type: str, external_id: str
) -> str:
    """Work on one entity's due events. Takes ids, not objects; safe to run twice.

    When the entity's next event is due again later (a retry, or another worker holds the
    entity) the job defers itself to that time; Postgres keeps the schedule in case this
    hint is lost, and the sweeper re-sends it.
    """
    key = EntityKey(realm_id, entity_type, external_id)
    outcome = await sync_one(ctx["sync"], key)
    logger.debug(
        "entity %s after %d events",
        outcome.result,
        outcome.handled,
        extra={"realm_id": realm_id, "entity_type": entity_type, "external_id": external_id},
    )
    if outcome.retry_in is not None:
        raise Retry(defer=max(outcome.retry_in, 0.0))
    return outcome.result


async def sweep_due_events(ctx: dict[str, Any]) -> int:
    """Re-send a job hint for every entity with due events; arq drops hints already queued."""
    settings = ctx["settings"]
    async with session_scope(ctx["session_factory"]) as session:
        keys = await due_entities(session, settings.sweep_batch_size)
    sent = await enqueue_sync(ctx["redis"], keys)
    if sent:
        logger.info("sweeper re-enqueued %d entities", sent)
    return sent


async def refresh_connection_tokens(ctx: dict[str, Any]) -> dict[str, str]:
    """Refresh every connection expiring soon or idle too long (single-flight per realm)."""
    outcomes = await refresh_due_connections(ctx["tokens"])
    for realm_id, outcome in outcomes.items():
        if outcome != "refreshed":
            logger.warning("token refresh: %s", outcome, extra={"realm_id": realm_id})
    return outcomes
