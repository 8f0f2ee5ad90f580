"""Step 1 of a sync, in one transaction: choose the record's next event and take it.

Moot events are marked `superseded` (app.sync.ordering decides which), the connection and
the company's settings are checked, the event's parents and the earlier events it must
follow are looked at (app.sync.dependencies), and the event is marked `syncing` with a lease,
or the step says why it waits, died, or that there is nothing to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.connections.models import CompanySettingsRow, Connection, ConnectionStatus
from app.connections.settings import EffectiveSettings
from app.core.hints import enqueue_sync
from app.core.keys import EntityKey
from app.db import utcnow
from app.events import lifecycle as event_store
from app.events.models import Event, EventStatus
from app.mappings import repository as mapping_store
from app.mappings.models import EntityMapping
from app.sync.company import company_context
from app.sync.dependencies import parents_of, resolve_parents, wait_for_earlier
from app.sync.deps import SyncDeps
from app.sync.locks import lock_as_parent_of
from app.sync.ordering import OpenEvent, maybe_applied, plan
from app.sync.outcomes import failure_reason
from app.sync.payloads import CompanyContext, PayloadError
from app.sync.recording import release_waiters_of
from app.sync.results import JobOutcome, JobResult, Step
from app.sync.work import Target, Work

# A `syncing` event is looked at again after this long: its worker died (jobs time out at 300 s).
LEASE = timedelta(minutes=6)


async def after_prepare(deps: SyncDeps, conn: AsyncConnection, key: EntityKey, step: Step) -> None:
    """After the first transaction committed: release what waited for the events it
    superseded, and hint every released record. The release has a transaction of its own:
    it holds no other record's dependency lock meanwhile, so two jobs never take the same
    two locks in opposite orders."""
    released = list(step.released)
    if step.superseded:
        async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
            await lock_as_parent_of(session, key)
            released += await release_waiters_of(session, key)
    if released and deps.redis is not None:
        await enqueue_sync(deps.redis, released)


async def prepare(deps: SyncDeps, session: AsyncSession, key: EntityKey) -> Step:
    """Step 1 for the record `key`, in the caller's transaction: the event to send now,
    marked `syncing`, or why there is none (see the module docstring)."""
    # FOR SHARE: a reconnect (which resumes parked events) waits for this transaction, and
    # this one for it, so an event is never parked after the resume that should wake it.
    # The company's own settings come with it: a change applies from the next step on, in
    # every worker.
    found = (
        await session.execute(
            select(Connection, CompanySettingsRow.values)
            .outerjoin(CompanySettingsRow, CompanySettingsRow.realm_id == Connection.realm_id)
            .where(Connection.realm_id == key.realm_id)
            .with_for_update(read=True, of=Connection)
        )
    ).first()
    connection = found[0] if found is not None else None
    events = await event_store.due_events_of(session, key)
    if not events:
        return Step(done=JobResult(JobOutcome.IDLE))
    now = utcnow()
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        for stopped in (e for e in events if e.status == EventStatus.SYNCING):
            # Its worker stopped while sending it: QBO may hold it, so look before re-creating.
            event_store.set_reason(
                stopped,
                {
                    **failure_reason("connection", "its worker stopped while sending it"),
                    "ambiguous": True,
                    "at": now.isoformat(),
                },
            )
        ids = [e.id for e in events]
        await event_store.set_status(session, ids, EventStatus.WAITING_CONNECTION)
        return Step(done=JobResult(JobOutcome.WAITING_CONNECTION))
    mapping = await mapping_store.mapping_of(
        session, key.realm_id, key.entity_type, key.external_id
    )
    last_applied = await _last_applied_at(session, mapping)
    chosen = plan(events, last_applied)
    for event_id, why in chosen.superseded:
        await event_store.set_status(session, [event_id], EventStatus.SUPERSEDED, note=why)
    settings = EffectiveSettings.of(found[1] if found is not None else None, deps.settings)
    step = await _choose(
        deps, session, connection, settings, events, chosen.next, target_of(mapping), now
    )
    step.superseded = bool(chosen.superseded)
    return step


def target_of(mapping: EntityMapping | None) -> Target | None:
    """The QBO record a mapping points to, at its stored SyncToken."""
    return Target(mapping.qbo_id, mapping.sync_token) if mapping else None


def work_of(
    event: Event,
    target: Target | None,
    refs: dict[tuple[str, str], str],
    context: CompanyContext,
    settings: EffectiveSettings,
) -> Work:
    """The Work of `event`'s next write: its record's `target`, its parents' QBO ids, the
    company's context and settings."""
    return Work(
        event_id=event.id,
        entity_type=event.entity_type,
        external_id=event.external_id,
        operation=event.operation,
        payload=event.payload,
        target=target,
        refs=refs,
        maybe_applied=maybe_applied(event),
        context=context,
        settings=settings,
        replays=event.replays or 0,
        attempt=(event.attempts or 0) + 1,
        received_at=event.received_at,
    )


async def _choose(
    deps: SyncDeps,
    session: AsyncSession,
    connection: Connection,
    settings: EffectiveSettings,
    events: list[Event],
    event: OpenEvent | None,
    target: Target | None,
    now: datetime,
) -> Step:
    """Check the next event's parents and the earlier events it must follow, and mark it
    `syncing`, or say why it waits or died."""
    if event is None:
        return Step(done=JobResult(JobOutcome.IDLE))
    assert isinstance(event, Event)
    if event.next_attempt_at > now and event.status == EventStatus.RETRYING:
        wait = (event.next_attempt_at - now).total_seconds()
        return Step(done=JobResult(JobOutcome.RETRY, retry_in=wait))
    try:
        context = company_context(connection, settings)
    except PayloadError as err:
        # Nothing to build bodies with until the company is connected again.
        reason = {**failure_reason("connection", str(err)), "at": now.isoformat()}
        ids = [e.id for e in events]
        await event_store.set_status(session, ids, EventStatus.WAITING_CONNECTION)
        event_store.set_reason(event, reason)
        return Step(done=JobResult(JobOutcome.WAITING_CONNECTION))

    parents = parents_of(event)
    if target is None and event.operation != "upserted":
        # A void, delete or deactivation of a record not created yet: wait for the create.
        parents = [(event.entity_type, event.external_id)]
    refs, blocked = await resolve_parents(session, event, parents, now, deps.settings)
    if blocked is not None:
        return blocked
    blocked = await wait_for_earlier(session, event, now, deps.settings)
    if blocked is not None:
        return blocked
    work = work_of(event, target, refs, context, settings)
    if work.maybe_applied and target is None and not (event.last_error or {}).get("ambiguous"):
        # Left `syncing` by a worker that stopped: from now on only the ambiguous mark
        # says that QBO may hold the record, whatever happens to this try.
        event_store.set_reason(
            event,
            {
                **failure_reason("transient", "its worker stopped while sending it"),
                "ambiguous": True,
                "at": now.isoformat(),
            },
        )
    event_store.mark_syncing(event, now + LEASE, now)
    return Step(work=work, event=event)


async def _last_applied_at(session: AsyncSession, mapping: EntityMapping | None) -> datetime | None:
    if mapping is None or mapping.last_event_id is None:
        return None
    return await event_store.occurred_at_of(session, mapping.last_event_id)
