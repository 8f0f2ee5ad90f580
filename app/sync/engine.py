"""Sync one entity: the job behind every event.

The job for (realm, entity type, external id) holds a PostgreSQL advisory lock on that
entity for its whole run, so no two workers work on one record, and a killed worker's
lock dies with its connection. It then repeats, until the entity has nothing due:

1. in one transaction: mark moot events `superseded`, pick the next event, check the
   connection and the parents (customer and items of an invoice, customer and invoices of a
   payment), and mark it `syncing` with a lease;
2. call QBO (no transaction open);
3. in one transaction: store mapping, SyncToken and event status, and release the events
   that waited for this record.

Failures end in `retrying` (backoff from the attempts in Postgres), `waiting_dependency`,
`waiting_connection` or `dead`, always with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from arq.connections import ArqRedis
from sqlalchemy import and_, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.callbacks.service import notices_queued, notify_event
from app.config import Settings
from app.connections.models import Connection, ConnectionStatus
from app.connections.refresh import (
    ConnectionUnavailable,
    RefreshFailed,
    TokenKeeper,
    mark_needs_reauth,
)
from app.core.backoff import gives_up, retry_delay
from app.core.hints import enqueue_sync, hint_deliveries
from app.core.keys import EntityKey
from app.core.metrics import SYNC_OUTCOMES, Metrics
from app.db import utcnow
from app.events.models import DUE_STATUSES, FINAL_STATUSES, Event, EventStatus
from app.mappings.models import QBO_ID_INDEX, EntityMapping
from app.qbo import BudgetWait, Category, QboError, RealmBudget, throttle_delay
from app.sync.apply import Applied, Applier, Target, Work
from app.sync.blockers import earlier_references
from app.sync.company import CompanyLookups, company_context
from app.sync.ordering import OpenEvent, maybe_applied, plan
from app.sync.owned import last_updated, owned_fields, write_operation
from app.sync.payloads import PayloadError
from app.sync.realm import RealmApi

logger = logging.getLogger(__name__)

# A `syncing` event is looked at again after this long: its worker died (jobs time out at 300 s).
LEASE = timedelta(minutes=6)
# Events one job run handles before it yields the worker slot (the sweeper brings it back).
MAX_STEPS = 200
FINAL = frozenset(s.value for s in FINAL_STATUSES)
# Second key space of pg_advisory_xact_lock(int, int): "someone may be releasing waiters".
DEPENDENCY_LOCK_CLASS = 0x5153  # "QS"


@dataclass
class SyncDeps:
    """What the engine needs, built once per worker process."""

    settings: Settings
    engine: AsyncEngine
    keeper: TokenKeeper
    redis: ArqRedis | None = None
    transport: httpx.AsyncBaseTransport | None = None
    budget: RealmBudget | None = None
    http: httpx.AsyncClient | None = None
    metrics: Metrics | None = None
    lookups: CompanyLookups = field(init=False)

    def __post_init__(self) -> None:
        self.lookups = CompanyLookups(self.settings)


@dataclass(frozen=True, slots=True)
class JobResult:
    result: str  # idle | retry | budget | waiting_dependency | waiting_connection | busy
    handled: int = 0
    retry_in: float | None = None


def _digest(key: EntityKey) -> bytes:
    return hashlib.sha256(f"{key.realm_id}/{key.entity_type}/{key.external_id}".encode()).digest()


def lock_id(key: EntityKey) -> int:
    """The entity's advisory lock key (signed 64 bits)."""
    return int.from_bytes(_digest(key)[:8], "big", signed=True)


def _parent_lock(key: EntityKey) -> int:
    """The entity's key in the dependency lock space (signed 32 bits)."""
    return int.from_bytes(_digest(key)[:4], "big", signed=True)


def waiting_key(entity_type: str, external_id: str) -> str:
    return f"{entity_type}:{external_id}"


async def sync_entity(deps: SyncDeps, key: EntityKey) -> JobResult:
    """Work through the entity's due events. Safe to run twice and to kill at any point."""
    async with deps.engine.connect() as conn:
        if not await claim(conn, [key]):
            return JobResult("busy", retry_in=1.0)
        try:
            return await _run(deps, conn, key)
        finally:
            await release(conn, [key])


async def claim(conn: AsyncConnection, keys: list[EntityKey]) -> list[EntityKey]:
    """Take the session-level lock of each record that no other worker holds; returns
    those taken. They stay held on `conn` until `release`, or until it is closed."""
    taken = [
        key for key in keys if await conn.scalar(select(func.pg_try_advisory_lock(lock_id(key))))
    ]
    await conn.commit()
    return taken


async def release(conn: AsyncConnection, keys: list[EntityKey]) -> None:
    try:
        await conn.rollback()
        for key in keys:
            await conn.scalar(select(func.pg_advisory_unlock(lock_id(key))))
        await conn.commit()
    except Exception:
        # The locks die with the session: drop the connection instead of pooling it.
        logger.warning("could not release entity locks; closing their connection", exc_info=True)
        await conn.invalidate()


@dataclass(slots=True)
class Step:
    """What the first transaction decided."""

    done: JobResult | None = None
    work: Work | None = None
    event: Event | None = None
    continue_now: bool = False
    # Records whose events waited for one that this transaction made final (dead).
    released: list[EntityKey] = field(default_factory=list)
    # Events of the record were superseded: what waited for them is released after commit.
    superseded: bool = False


async def _run(deps: SyncDeps, conn: AsyncConnection, key: EntityKey) -> JobResult:
    handled = 0
    for _ in range(MAX_STEPS):
        async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
            step = await prepare(deps, session, key)
        await hint_notices(deps, session)
        await after_prepare(deps, conn, key, step)
        if step.done is not None:
            return JobResult(step.done.result, handled, step.done.retry_in)
        if step.continue_now:
            handled += 1
            continue
        assert step.work is not None
        assert step.event is not None
        outcome = await call_qbo(deps, step.work, key)
        async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
            released, delay = await record(deps, session, step.event, step.work, outcome)
        await hint_notices(deps, session)
        await count_outcome(deps, outcome)
        handled += 1
        if released and deps.redis is not None:
            await enqueue_sync(deps.redis, released)
        if isinstance(outcome, Deferred):
            return JobResult("budget", handled, delay)
        if delay is not None:
            return JobResult("retry", handled, delay)
        if isinstance(outcome, NoConnection):
            return JobResult("waiting_connection", handled)
    return JobResult("idle", handled, retry_in=0.0)


async def hint_notices(deps: SyncDeps, session: AsyncSession) -> None:
    """After commit: wake the callback delivery job if the transaction queued notices."""
    if deps.redis is not None and notices_queued(session):
        await hint_deliveries(deps.redis)


# -- step 1: choose ----------------------------------------------------------------------


async def after_prepare(deps: SyncDeps, conn: AsyncConnection, key: EntityKey, step: Step) -> None:
    """After the first transaction committed: release what waited for the events it
    superseded, and hint every released record. The release has a transaction of its own:
    it holds no other record's dependency lock meanwhile, so two jobs never take the same
    two locks in opposite orders."""
    released = list(step.released)
    if step.superseded:
        async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
            await _lock_as_parent_of(session, key)
            released += await _release_key(session, key)
    if released and deps.redis is not None:
        await enqueue_sync(deps.redis, released)


async def prepare(deps: SyncDeps, session: AsyncSession, key: EntityKey) -> Step:
    # FOR SHARE: a reconnect (which resumes parked events) waits for this transaction, and
    # this one for it, so an event is never parked after the resume that should wake it.
    connection = await session.scalar(
        select(Connection).where(Connection.realm_id == key.realm_id).with_for_update(read=True)
    )
    events = list(
        (
            await session.scalars(
                select(Event)
                .where(
                    Event.realm_id == key.realm_id,
                    Event.entity_type == key.entity_type,
                    Event.external_id == key.external_id,
                    Event.status.in_(DUE_STATUSES),
                )
                .order_by(Event.occurred_at, Event.received_at, Event.id)
            )
        ).all()
    )
    if not events:
        return Step(done=JobResult("idle"))
    now = utcnow()
    if connection is None or connection.status != ConnectionStatus.ACTIVE.value:
        for stopped in (e for e in events if e.status == EventStatus.SYNCING.value):
            # Its worker stopped while sending it: QBO may hold it, so look before re-creating.
            stopped.last_error = {
                **_reason("connection", "its worker stopped while sending it"),
                "ambiguous": True,
                "at": now.isoformat(),
            }
        await _set(session, [e.id for e in events], status=EventStatus.WAITING_CONNECTION)
        return Step(done=JobResult("waiting_connection"))
    mapping = await _mapping(session, key.realm_id, key.entity_type, key.external_id)
    last_applied = await _last_applied_at(session, mapping)
    chosen = plan(events, last_applied)
    for event_id, why in chosen.superseded:
        await _set(session, [event_id], status=EventStatus.SUPERSEDED, note=why)
    step = await _choose(deps, session, connection, events, chosen.next, _target(mapping), now)
    step.superseded = bool(chosen.superseded)
    return step


def _target(mapping: EntityMapping | None) -> Target | None:
    return Target(mapping.qbo_id, mapping.sync_token) if mapping else None


async def _choose(
    deps: SyncDeps,
    session: AsyncSession,
    connection: Connection,
    events: list[Event],
    event: OpenEvent | None,
    target: Target | None,
    now: datetime,
) -> Step:
    """Check the next event's parents and the earlier events it must follow, and mark it
    `syncing`, or say why it waits or died."""
    if event is None:
        return Step(done=JobResult("idle"))
    assert isinstance(event, Event)
    if event.next_attempt_at > now and event.status == EventStatus.RETRYING.value:
        wait = (event.next_attempt_at - now).total_seconds()
        return Step(done=JobResult("retry", retry_in=wait))
    try:
        context = company_context(connection, deps.settings)
    except PayloadError as err:
        # Nothing to build bodies with until the company is connected again.
        reason = {**_reason("connection", str(err)), "at": now.isoformat()}
        await _set(session, [e.id for e in events], status=EventStatus.WAITING_CONNECTION)
        event.last_error = reason
        return Step(done=JobResult("waiting_connection"))

    parents = _parents(event)
    if target is None and event.operation != "upserted":
        # A void, delete or deactivation of a record not created yet: wait for the create.
        parents = [(event.entity_type, event.external_id)]
    refs, blocked = await _resolve(session, event, parents, now, deps.settings)
    if blocked is not None:
        return blocked
    blocked = await _after_earlier(session, event, now, deps.settings)
    if blocked is not None:
        return blocked
    if event.status == EventStatus.WAITING_DEPENDENCY.value:
        event.waiting_for = None
    work = Work(
        event_id=event.id,
        entity_type=event.entity_type,
        external_id=event.external_id,
        operation=event.operation,
        payload=event.payload,
        target=target,
        refs=refs,
        maybe_applied=maybe_applied(event),
        context=context,
        replays=event.replays,
        attempt=event.attempts + 1,
        received_at=event.received_at,
    )
    if work.maybe_applied and target is None and not (event.last_error or {}).get("ambiguous"):
        # Left `syncing` by a worker that stopped: from now on only the ambiguous mark
        # says that QBO may hold the record, whatever happens to this try.
        event.last_error = {
            **_reason("transient", "its worker stopped while sending it"),
            "ambiguous": True,
            "at": now.isoformat(),
        }
    event.status = EventStatus.SYNCING.value
    event.next_attempt_at = now + LEASE
    event.updated_at = now
    return Step(work=work, event=event)


def _parents(event: Event) -> list[tuple[str, str]]:
    """The records an event's write refers to, in the order they are checked."""
    if event.operation != "upserted" or event.entity_type not in ("invoice", "payment"):
        return []
    data = event.payload["data"]
    parents = [("customer", str(data["customer_external_id"]))]
    if event.entity_type == "invoice":
        parents += [("item", str(line["item_external_id"])) for line in data["lines"]]
    else:
        parents += [("invoice", str(a["invoice_external_id"])) for a in data["applied_to"]]
    return list(dict.fromkeys(parents))


async def _resolve(
    session: AsyncSession,
    event: Event,
    parents: list[tuple[str, str]],
    now: datetime,
    settings: Settings,
) -> tuple[dict[tuple[str, str], str], Step | None]:
    """QBO ids of the parents, or the step that makes the event wait (or die) for one."""
    refs = await _mapped_ids(session, event.realm_id, parents)
    for parent in parents:
        if parent in refs:
            continue
        # Serialise with the parent's own job recording it: either we see its mapping now,
        # or it sees us waiting and releases us. No lost wake-up.
        await session.execute(
            select(
                func.pg_advisory_xact_lock(
                    DEPENDENCY_LOCK_CLASS, _parent_lock(EntityKey(event.realm_id, *parent))
                )
            )
        )
        again = await _mapped_ids(session, event.realm_id, [parent])
        if parent in again:
            refs.update(again)
            continue
        return refs, await _wait_or_die(session, event, parent, now, settings)
    return refs, None


async def _wait_or_die(
    session: AsyncSession,
    event: Event,
    parent: tuple[str, str],
    now: datetime,
    settings: Settings,
) -> Step:
    """The event waits for `parent` to be created, or dies at once when the parent's
    latest event is dead (or after DEPENDENCY_TIMEOUT_MINUTES when it never arrived); a
    death releases, in the same transaction, the events that waited for this one's record,
    so that a whole chain of children dies at once, each naming its parent."""
    kind, ext = parent
    own = parent == (event.entity_type, event.external_id)
    name = f"{kind} {ext!r}"
    query = select(Event.id, Event.status, Event.last_error).where(
        Event.realm_id == event.realm_id,
        Event.entity_type == kind,
        Event.external_id == ext,
        Event.id != event.id,
    )
    if own:
        # Its create: an upsert of the record before it (a later one cannot be).
        query = query.where(Event.operation == "upserted", Event.occurred_at <= event.occurred_at)
    latest = (
        await session.execute(
            query.order_by(Event.occurred_at.desc(), Event.received_at.desc()).limit(1)
        )
    ).first()
    open_parent = latest is not None and latest.status not in FINAL
    what = f"its create ({name})" if own else name
    if latest is not None and latest.status == EventStatus.DEAD.value:
        message = (latest.last_error or {}).get("message") or "no reason recorded"
        reason = _dependency(f"{what} failed and was not synced: {message}", parent, latest.id)
        return await _die_with_children(session, event, reason)
    deadline = event.received_at + timedelta(minutes=settings.dependency_timeout_minutes)
    if not open_parent and deadline <= now:
        reason = _dependency(
            f"{what} did not arrive within {settings.dependency_timeout_minutes:g} minutes",
            parent,
            None,
        )
        return await _die_with_children(session, event, reason)
    # An open parent releases the event when it ends (synced or dead); the deadline is for
    # a parent that never arrives, and a late look is only a safety net.
    later = (
        deadline if deadline > now else now + timedelta(minutes=settings.dependency_timeout_minutes)
    )
    note = f"waiting for {'its create' if own else name}"
    return await _wait(session, event, parent, later, note, now)


async def _after_earlier(
    session: AsyncSession, event: Event, now: datetime, settings: Settings
) -> Step | None:
    """The step that makes a deactivation, void or delete wait while an earlier event that
    references its record is still open, or None when none is.

    Intuit refuses the other order: a transaction that references an inactive customer or
    item gets 610 ("Object Not Found", https://developer.intuit.com/app/developer/qbo/docs/
    develop/troubleshooting/handling-common-errors), and an invoice that payments are linked
    to cannot be deleted ("linked transactions must be unlinked first", Invoice reference,
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice)
    nor voided (6000).
    """
    blockers = await earlier_references(session, event)
    for kind, ext in dict.fromkeys((b.entity_type, b.external_id) for b in blockers):
        # As in _resolve: with the blocker's lock held, either its last event is seen
        # ended now, or its job sees this one waiting and releases it.
        await _lock_as_parent_of(session, EntityKey(event.realm_id, kind, ext))
        still = await earlier_references(session, event, (kind, ext))
        if still:
            first = still[0]
            note = (
                f"waiting for event {first.id} ({first.entity_type}.{first.operation} of "
                f"{kind} {ext!r}), which comes first and is not final yet"
            )
            later = now + timedelta(minutes=settings.dependency_timeout_minutes)
            return await _wait(session, event, (kind, ext), later, note, now)
    return None


async def _wait(
    session: AsyncSession,
    event: Event,
    parent: tuple[str, str],
    later: datetime,
    note: str,
    now: datetime,
) -> Step:
    """Park the event (and the record's events behind it) until `parent` is released."""
    waiting_for = waiting_key(*parent)
    event.status = EventStatus.WAITING_DEPENDENCY.value
    event.waiting_for = waiting_for
    event.next_attempt_at = later
    event.note = note
    event.updated_at = now
    # The record's later events wait with it: they go only after it, and are released
    # with it rather than looked at again and again.
    await session.execute(
        update(Event)
        .where(
            Event.realm_id == event.realm_id,
            Event.entity_type == event.entity_type,
            Event.external_id == event.external_id,
            Event.id != event.id,
            Event.status.in_((EventStatus.PENDING.value, EventStatus.RETRYING.value)),
        )
        .values(
            status=EventStatus.WAITING_DEPENDENCY.value,
            waiting_for=waiting_for,
            next_attempt_at=later,
            note=f"waiting behind event {event.id}",
            updated_at=now,
        )
    )
    return Step(done=JobResult("waiting_dependency"))


async def _die_with_children(session: AsyncSession, event: Event, reason: dict[str, Any]) -> Step:
    await _lock_as_parent(session, event)
    await _dead(session, event, reason)
    return Step(continue_now=True, released=await _release(session, event))


def _dependency(
    message: str, parent: tuple[str, str], parent_event: uuid.UUID | None
) -> dict[str, Any]:
    """A `dependency` reason naming the parent record (`parent`, as `waiting_for` names
    it) and its dead event: a retry of that record's event sends this one back too."""
    reason = _reason("dependency", message)
    reason["parent"] = waiting_key(*parent)
    if parent_event is not None:
        reason["parent_event_id"] = str(parent_event)
    return reason


# -- step 2: call QBO ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    applied: Applied


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: dict[str, Any]
    throttled: bool
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Dead:
    reason: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoConnection:
    reason: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deferred:
    """The realm's QBO budget is spent (or paused): nothing was sent; try after `delay`."""

    delay: float


Outcome = Done | RetryLater | Dead | NoConnection | Deferred


def realm_api(deps: SyncDeps, realm_id: str) -> RealmApi:
    return RealmApi(
        deps.settings, deps.keeper, realm_id, deps.transport, deps.budget, deps.http, deps.metrics
    )


def applier_for(deps: SyncDeps, realm_id: str) -> Applier:
    async def mapped_elsewhere(entity_type: str, qbo_id: str, external_id: str) -> bool:
        async with AsyncSession(deps.engine) as session:
            other = await session.scalar(
                select(EntityMapping.external_id).where(
                    EntityMapping.realm_id == realm_id,
                    EntityMapping.entity_type == entity_type,
                    EntityMapping.qbo_id == qbo_id,
                    EntityMapping.external_id != external_id,
                )
            )
        return other is not None

    async def creating_elsewhere(entity_type: str, name: str, external_id: str) -> bool:
        # A create is in flight while its event is `syncing` (committed before the call,
        # until its mapping is), or may have landed while it is marked ambiguous; a record
        # already mapped is creating nothing (`mapped_elsewhere` covers it). Names are
        # compared as QBO compares them: without case, and as sent (`clean_name`).
        field = "display_name" if entity_type == "customer" else "name"
        limit = 500 if entity_type == "customer" else 100
        async with AsyncSession(deps.engine) as session:
            other = await session.scalar(
                select(Event.id)
                .where(
                    Event.realm_id == realm_id,
                    Event.entity_type == entity_type,
                    Event.external_id != external_id,
                    Event.operation == "upserted",
                    or_(
                        Event.status == EventStatus.SYNCING.value,
                        and_(
                            Event.status.in_((*DUE_STATUSES, EventStatus.WAITING_CONNECTION)),
                            Event.last_error["ambiguous"].as_boolean().is_(True),
                        ),
                    ),
                    _name_key(Event.payload["data"][field].astext, limit)
                    == _name_key(literal(name), limit),
                    ~select(EntityMapping.id)
                    .where(
                        EntityMapping.realm_id == realm_id,
                        EntityMapping.entity_type == entity_type,
                        EntityMapping.external_id == Event.external_id,
                    )
                    .exists(),
                )
                .limit(1)
            )
        return other is not None

    return Applier(
        deps.settings,
        deps.lookups,
        realm_api(deps, realm_id),
        mapped_elsewhere,
        creating_elsewhere,
    )


def _name_key(value: Any, limit: int) -> Any:
    """A name as QBO would hold it, for comparison: forbidden characters replaced (as
    `clean_name` does), trimmed, cut to the field's length, lower case."""
    return func.lower(func.left(func.btrim(func.translate(value, ":\t\r\n", "-   ")), limit))


def log_extra(work: Work, realm_id: str) -> dict[str, Any]:
    return {
        "event_id": str(work.event_id),
        "realm_id": realm_id,
        "entity_type": work.entity_type,
        "external_id": work.external_id,
        "attempt": work.attempt,
    }


async def call_qbo(deps: SyncDeps, work: Work, key: EntityKey) -> Outcome:
    applier = applier_for(deps, key.realm_id)
    try:
        applied = await applier.apply(work)
    except Exception as err:
        return await outcome_of_error(deps, err, work, key.realm_id)
    logger.info("synced", extra={**log_extra(work, key.realm_id), "qbo_id": applied.qbo_id})
    return Done(applied)


async def outcome_of_error(
    deps: SyncDeps, err: BaseException, work: Work, realm_id: str
) -> Outcome:
    """What a failed write means for its event. Unknown exceptions propagate."""
    extra = log_extra(work, realm_id)
    if isinstance(err, BudgetWait):
        return Deferred(err.seconds)
    if isinstance(err, PayloadError):
        return Dead(_reason("permanent", str(err)))
    if isinstance(err, ConnectionUnavailable):
        return NoConnection(_reason("connection", str(err)))
    if isinstance(err, RefreshFailed):
        logger.warning("token refresh failed; retrying later", extra=extra)
        return RetryLater(_reason("transient", str(err)), throttled=False)
    if isinstance(err, QboError):
        logger.warning(
            "QBO refused: %s", err.summary, extra={**extra, "intuit_tid": err.intuit_tid}
        )
        reason = err.reason()
        if work.target is None and work.operation == "upserted" and _maybe_written(err):
            reason["ambiguous"] = True
        if err.category is Category.THROTTLED:
            return RetryLater(reason, throttled=True, delay=throttle_delay(err.retry_after))
        if err.category is Category.CONNECTION:
            await mark_needs_reauth(deps.keeper, realm_id, err.message, err.intuit_tid)
            if deps.redis is not None:  # the connection.needs_reauth notices
                await hint_deliveries(deps.redis)
            return NoConnection(reason)
        if err.retryable:
            return RetryLater(reason, throttled=False)
        return Dead(reason)
    if isinstance(err, httpx.HTTPError | OSError):
        logger.warning("QBO unreachable", exc_info=err, extra=extra)
        return RetryLater(_reason("transient", f"QBO unreachable ({type(err).__name__})"), False)
    raise err


async def count_outcome(deps: SyncDeps, outcome: Outcome) -> None:
    if deps.metrics is None:
        return
    result = {
        Done: "synced",
        RetryLater: "retrying",
        Dead: "dead",
        NoConnection: "waiting_connection",
        Deferred: "deferred",
    }[type(outcome)]
    reason = getattr(outcome, "reason", None) or {}
    category = str(reason.get("category") or "none")
    await deps.metrics.incr(SYNC_OUTCOMES, {"result": result, "category": category})


def _maybe_written(err: QboError) -> bool:
    """A create whose outcome is unknown: no answer, or a server error after sending."""
    return err.ambiguous or (err.category is Category.TRANSIENT and (err.status or 0) >= 500)


# -- step 3: record ----------------------------------------------------------------------


async def record(
    deps: SyncDeps, session: AsyncSession, event: Event, work: Work, outcome: Outcome
) -> tuple[list[EntityKey], float | None]:
    """Store the outcome. Returns the entities released from waiting on this one, and the
    seconds until the event's next attempt when it is to be retried."""
    current = await session.get(Event, event.id, with_for_update=True, populate_existing=True)
    if current is None:
        return [], None
    now = utcnow()
    if isinstance(outcome, Done):
        await _lock_as_parent(session, event)
        holder = await _save_mapping(session, event, outcome.applied)
        if holder is not None:
            # Another record of the company committed this QBO record first (its create
            # or adoption raced ours): never two caller records on one QBO record. The
            # next try finds the record taken and creates ours under its own name.
            outcome = RetryLater(
                _reason(
                    "transient",
                    f"QBO {event.entity_type} {outcome.applied.qbo_id} is already linked to "
                    f"{holder!r}; trying again for a record of its own",
                ),
                throttled=False,
            )
            return await record(deps, session, event, work, outcome)
        _set_fields(
            current,
            status=EventStatus.SYNCED,
            qbo_id=outcome.applied.qbo_id,
            synced_at=now,
            last_error=None,
            failing_since=None,
            waiting_for=None,
            note=outcome.applied.note,
            now=now,
        )
        await notify_event(session, current)
        return await _release(session, event), None
    if isinstance(outcome, Deferred):
        # Not an attempt: the event is as it was, due again when the budget allows.
        previous = EventStatus.RETRYING if current.attempts else EventStatus.PENDING
        _set_fields(current, status=previous, now=now)
        current.next_attempt_at = now + timedelta(seconds=outcome.delay)
        return [], outcome.delay
    if isinstance(outcome, NoConnection):
        connection = await session.scalar(
            select(Connection.status)
            .where(Connection.realm_id == event.realm_id)
            .with_for_update(read=True)
        )
        if connection == ConnectionStatus.ACTIVE.value:
            # Reconnected since the call failed: try again rather than wait for a resume
            # that has already happened.
            _set_fields(
                current,
                status=EventStatus.RETRYING,
                last_error={**outcome.reason, "at": now.isoformat()},
                now=now,
            )
            current.next_attempt_at = now
            return [], 0.0
        parked = {**outcome.reason, "at": now.isoformat()}
        if _still_ambiguous(current, work):
            parked["ambiguous"] = True
        _set_fields(current, status=EventStatus.WAITING_CONNECTION, last_error=parked, now=now)
        return [], None
    if isinstance(outcome, Dead):
        await _lock_as_parent(session, event)
        await _dead(session, current, outcome.reason)
        return await _release(session, event), None
    reason = {**outcome.reason, "at": now.isoformat()}
    # An ambiguous create stays ambiguous until it is resolved, whatever the next failure.
    if _still_ambiguous(current, work):
        reason["ambiguous"] = True
    if not outcome.throttled:
        current.attempts += 1
        current.failing_since = current.failing_since or now
        if gives_up(current.failing_since, now, deps.settings):
            await _lock_as_parent(session, event)
            reason["message"] = (
                f"gave up after {current.attempts} attempts over "
                f"{deps.settings.retry_give_up_hours:g} hours; last error: {reason.get('message')}"
            )
            await _dead(session, current, reason)
            return await _release(session, event), None
        delay = retry_delay(
            current.attempts, deps.settings.retry_base_seconds, deps.settings.retry_cap_seconds
        )
    else:
        delay = outcome.delay
    _set_fields(current, status=EventStatus.RETRYING, last_error=reason, now=now)
    current.next_attempt_at = now + timedelta(seconds=delay)
    return [], delay


async def _lock_as_parent(session: AsyncSession, event: Event) -> None:
    await _lock_as_parent_of(
        session, EntityKey(event.realm_id, event.entity_type, event.external_id)
    )


async def _lock_as_parent_of(session: AsyncSession, key: EntityKey) -> None:
    await session.execute(
        select(func.pg_advisory_xact_lock(DEPENDENCY_LOCK_CLASS, _parent_lock(key)))
    )


async def _save_mapping(session: AsyncSession, event: Event, applied: Applied) -> str | None:
    """Store the event's mapping. Every write path ends here (single and batch writes,
    adoptions, voids, deletions): the mapping keeps what QBO answered, to tell the webhook of
    this write from others. Returns None, or, storing nothing, the external id that already
    holds that QBO record (the unique index on realm, entity type and QBO id)."""
    now = utcnow()
    # What changes made in QBO are later compared with (app.drift.owned).
    owned = (
        owned_fields(event.entity_type, applied.record)
        if applied.record and "SyncToken" in applied.record
        else None
    )
    written_at = last_updated(applied.record)
    statement = pg_insert(EntityMapping).values(
        id=uuid.uuid4(),
        realm_id=event.realm_id,
        entity_type=event.entity_type,
        external_id=event.external_id,
        qbo_id=applied.qbo_id,
        sync_token=applied.sync_token,
        last_payload_hash=event.payload_hash,
        last_event_id=event.id,
        qbo_owned=owned,
        qbo_updated_at=written_at,
        qbo_last_write=write_operation(event.operation, applied.record),
        qbo_echoed=False,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["realm_id", "entity_type", "external_id"],
                    set_={
                        "qbo_id": statement.excluded.qbo_id,
                        "sync_token": statement.excluded.sync_token,
                        "last_payload_hash": statement.excluded.last_payload_hash,
                        "last_event_id": statement.excluded.last_event_id,
                        # A deletion's answer has neither fields nor time: the last ones
                        # known stay (what the deleted record referred to, for its webhooks).
                        "qbo_owned": EntityMapping.qbo_owned
                        if owned is None
                        else statement.excluded.qbo_owned,
                        "qbo_updated_at": EntityMapping.qbo_updated_at
                        if written_at is None
                        else statement.excluded.qbo_updated_at,
                        "qbo_last_write": statement.excluded.qbo_last_write,
                        "qbo_echoed": False,
                        "updated_at": now,
                    },
                )
            )
    except IntegrityError as err:
        if QBO_ID_INDEX not in str(err.orig):
            raise
        holder = await session.scalar(
            select(EntityMapping.external_id).where(
                EntityMapping.realm_id == event.realm_id,
                EntityMapping.entity_type == event.entity_type,
                EntityMapping.qbo_id == applied.qbo_id,
            )
        )
        return holder or "another record"
    return None


async def _release(session: AsyncSession, parent: Event) -> list[EntityKey]:
    """Send the events waiting for `parent`'s record back to pending; they re-check."""
    return await _release_key(
        session, EntityKey(parent.realm_id, parent.entity_type, parent.external_id)
    )


async def _release_key(session: AsyncSession, parent: EntityKey) -> list[EntityKey]:
    now = utcnow()
    rows = await session.execute(
        update(Event)
        .where(
            Event.realm_id == parent.realm_id,
            Event.status == EventStatus.WAITING_DEPENDENCY.value,
            Event.waiting_for == waiting_key(parent.entity_type, parent.external_id),
        )
        .values(
            status=EventStatus.PENDING.value, waiting_for=None, next_attempt_at=now, updated_at=now
        )
        .returning(Event.realm_id, Event.entity_type, Event.external_id)
    )
    own = EntityKey(parent.realm_id, parent.entity_type, parent.external_id)
    keys = [EntityKey(r.realm_id, r.entity_type, r.external_id) for r in rows]
    return [k for k in dict.fromkeys(keys) if k != own]


# -- small helpers -----------------------------------------------------------------------


def _still_ambiguous(current: Event, work: Work) -> bool:
    """A create QBO may have applied stays marked so until a try settles it."""
    return work.target is None and (
        work.maybe_applied or bool((current.last_error or {}).get("ambiguous"))
    )


def _reason(category: str, message: str) -> dict[str, Any]:
    return {"category": category, "code": None, "message": message}


async def _dead(session: AsyncSession, event: Event, reason: dict[str, Any]) -> None:
    now = utcnow()
    _set_fields(
        event,
        status=EventStatus.DEAD,
        last_error={**reason, "at": reason.get("at") or now.isoformat()},
        waiting_for=None,
        now=now,
    )
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


_UNSET: Any = object()


def _set_fields(
    event: Event,
    *,
    status: EventStatus,
    now: datetime,
    qbo_id: str | None = _UNSET,
    synced_at: datetime | None = _UNSET,
    last_error: dict[str, Any] | None = _UNSET,
    failing_since: datetime | None = _UNSET,
    waiting_for: str | None = _UNSET,
    note: str | None = _UNSET,
) -> None:
    event.status = status.value
    event.updated_at = now
    values = {
        "qbo_id": qbo_id,
        "synced_at": synced_at,
        "last_error": last_error,
        "failing_since": failing_since,
        "waiting_for": waiting_for,
        "note": note,
    }
    for name, value in values.items():
        if value is not _UNSET:
            setattr(event, name, value)


async def _set(
    session: AsyncSession, ids: list[uuid.UUID], *, status: EventStatus, note: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status.value, "updated_at": utcnow()}
    if note is not None:
        values["note"] = note
    await session.execute(update(Event).where(Event.id.in_(ids)).values(**values))


async def _mapping(
    session: AsyncSession, realm_id: str, entity_type: str, external_id: str
) -> EntityMapping | None:
    return await session.scalar(
        select(EntityMapping).where(
            EntityMapping.realm_id == realm_id,
            EntityMapping.entity_type == entity_type,
            EntityMapping.external_id == external_id,
        )
    )


async def _last_applied_at(session: AsyncSession, mapping: EntityMapping | None) -> datetime | None:
    if mapping is None or mapping.last_event_id is None:
        return None
    return await session.scalar(select(Event.occurred_at).where(Event.id == mapping.last_event_id))


async def _mapped_ids(
    session: AsyncSession, realm_id: str, parents: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    if not parents:
        return {}
    rows = await session.execute(
        select(EntityMapping.entity_type, EntityMapping.external_id, EntityMapping.qbo_id).where(
            EntityMapping.realm_id == realm_id,
            tuple_(EntityMapping.entity_type, EntityMapping.external_id).in_(parents),
        )
    )
    return {(r.entity_type, r.external_id): r.qbo_id for r in rows}
