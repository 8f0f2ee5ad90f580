"""Step 3 of a sync, in one transaction: store an outcome. The event's new state and, on
success, its mapping (QBO id, SyncToken, what QBO answered); a final state releases the
events that waited for the record (under its dependency lock)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.service import notify_event
from app.config import Settings
from app.connections.models import Connection, ConnectionStatus
from app.core.backoff import gives_up, retry_delay
from app.core.keys import EntityKey
from app.db import utcnow
from app.events import lifecycle as event_store
from app.events.models import Event
from app.mappings import repository as mapping_store
from app.mappings.repository import MappingWrite
from app.sync.deps import SyncDeps
from app.sync.locks import lock_as_parent
from app.sync.outcomes import (
    Dead,
    Deferred,
    Done,
    NoConnection,
    Outcome,
    RetryLater,
    failure_reason,
)
from app.sync.owned import last_updated, owned_fields, write_operation
from app.sync.work import Applied, Work

# The engine's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.engine")


async def record(
    deps: SyncDeps, session: AsyncSession, event: Event, work: Work, outcome: Outcome
) -> tuple[list[EntityKey], float | None]:
    """Store the outcome. Returns the entities released from waiting on this one, and the
    seconds until the event's next attempt when it is to be retried."""
    current = await event_store.lock_event(session, event.id)
    if current is None:
        return [], None
    if work.sent.last is not None:  # whatever the outcome: what QBO was last sent
        event_store.record_sent_request(current, work.sent.last)
    now = utcnow()
    if isinstance(outcome, Done):
        await lock_as_parent(session, event)
        holder = await _save_mapping(session, event, outcome.applied)
        if holder is not None:
            # Another record of the company committed this QBO record first (its create
            # or adoption raced ours): never two caller records on one QBO record. The
            # next try finds the record taken and creates ours under its own name.
            outcome = RetryLater(
                failure_reason(
                    "transient",
                    f"QBO {event.entity_type} {outcome.applied.qbo_id} is already linked to "
                    f"{holder!r}; trying again for a record of its own",
                ),
                throttled=False,
            )
            return await record(deps, session, event, work, outcome)
        applied = outcome.applied
        event_store.mark_synced(current, applied.qbo_id, applied.note, now, applied.mismatch)
        await notify_event(session, current)
        return await release_waiters(session, event), None
    if isinstance(outcome, Deferred):
        # Not an attempt: the event is as it was, due again when the budget allows.
        event_store.mark_deferred(current, now + timedelta(seconds=outcome.delay), now)
        return [], outcome.delay
    if isinstance(outcome, NoConnection):
        connection = await session.scalar(
            select(Connection.status)
            .where(Connection.realm_id == event.realm_id)
            .with_for_update(read=True)
        )
        if connection == ConnectionStatus.ACTIVE:
            # Reconnected since the call failed: try again rather than wait for a resume
            # that has already happened.
            reason = {**outcome.reason, "at": now.isoformat()}
            event_store.mark_retrying(current, reason, now, now)
            return [], 0.0
        parked = {**outcome.reason, "at": now.isoformat()}
        if _still_ambiguous(current, work):
            parked["ambiguous"] = True
        event_store.mark_waiting_connection(current, parked, now)
        return [], None
    if isinstance(outcome, Dead):
        await lock_as_parent(session, event)
        await record_dead(session, current, outcome.reason)
        return await release_waiters(session, event), None
    reason = {**outcome.reason, "at": now.isoformat()}
    # An ambiguous create stays ambiguous until it is resolved, whatever the next failure.
    if _still_ambiguous(current, work):
        reason["ambiguous"] = True
    if not outcome.throttled:
        event_store.count_failed_attempt(current, now)
    delay = retry_in(outcome, current.attempts, current.failing_since, now, deps.settings)
    if delay is None:
        await lock_as_parent(session, event)
        reason["message"] = (
            f"gave up after {current.attempts} attempts over "
            f"{deps.settings.retry_give_up_hours:g} hours; last error: {reason.get('message')}"
        )
        await record_dead(session, current, reason)
        return await release_waiters(session, event), None
    event_store.mark_retrying(current, reason, now + timedelta(seconds=delay), now)
    return [], delay


def retry_in(
    outcome: RetryLater,
    attempts: int,
    failing_since: datetime | None,
    now: datetime,
    settings: Settings,
) -> float | None:
    """Seconds until a failed event's next try, or None when its failures have lasted long
    enough to give up (RETRY_GIVE_UP_HOURS). A throttled call is not a failed attempt: it
    waits its pause, however long the event has been failing; a failed attempt backs off
    from the attempts counted in Postgres."""
    if outcome.throttled:
        return outcome.delay
    if gives_up(failing_since, now, settings):
        return None
    return retry_delay(attempts, settings.retry_base_seconds, settings.retry_cap_seconds)


async def _save_mapping(session: AsyncSession, event: Event, applied: Applied) -> str | None:
    """Store the event's mapping; it keeps what QBO answered, to tell the webhook of this
    write from others. Returns None, or, storing nothing, the external id that already
    holds that QBO record."""
    # What changes made in QBO are later compared with (app.sync.owned).
    owned = (
        owned_fields(event.entity_type, applied.record)
        if applied.record and "SyncToken" in applied.record
        else None
    )
    write = MappingWrite(
        realm_id=event.realm_id,
        entity_type=event.entity_type,
        external_id=event.external_id,
        qbo_id=applied.qbo_id,
        sync_token=applied.sync_token,
        payload_hash=event.payload_hash,
        event_id=event.id,
        owned=owned,
        qbo_updated_at=last_updated(applied.record),
        last_write=write_operation(event.operation, applied.record),
    )
    return await mapping_store.save_mapping(session, write)


async def release_waiters(session: AsyncSession, parent: Event) -> list[EntityKey]:
    """Send the events waiting for `parent`'s record back to pending; they re-check."""
    return await release_waiters_of(
        session, EntityKey(parent.realm_id, parent.entity_type, parent.external_id)
    )


async def release_waiters_of(session: AsyncSession, parent: EntityKey) -> list[EntityKey]:
    return await event_store.release_waiting(session, parent)


def _still_ambiguous(current: Event, work: Work) -> bool:
    """A create QBO may have applied stays marked so until a try settles it."""
    return work.target is None and (
        work.maybe_applied or bool((current.last_error or {}).get("ambiguous"))
    )


async def record_dead(session: AsyncSession, event: Event, reason: dict[str, Any]) -> None:
    now = utcnow()
    event_store.mark_dead(event, {**reason, "at": reason.get("at") or now.isoformat()}, now)
    await notify_event(session, event)
    logger.error(
        "event dead: %s",
        reason.get("message"),
        extra={
            "event_id": str(event.id),
            "realm_id": event.realm_id,
            "entity_type": event.entity_type,
            "external_id": event.external_id,
            "intuit_tid": reason.get("intuit_tid"),
        },
    )
