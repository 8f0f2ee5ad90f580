"""The work behind drift detection: classify a realm's stored sightings, and ask CDC for
what webhooks may have missed. Both read QBO through the realm's shared budget."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection
from app.connections.refresh import ConnectionUnavailable, RefreshFailed
from app.connections.settings_store import effective_settings
from app.core.keys import EntityKey
from app.core.metrics import DRIFT_FOUND
from app.core.times import parse_time
from app.db import utcnow
from app.drift.echoes import echo_of_ours, settle_echoes, write_in_flight
from app.drift.intuit import Sighting
from app.drift.models import CdcCheckpoint, FoundBy, QboChange
from app.drift.service import (
    active_connection,
    classify_sight,
    count_unmapped,
    find_mapping,
    is_not_found,
    record_verdict,
    restore_key,
)
from app.drift.sightings import BUSY_RETRY, Sight, claim_changes, finish, later, store_sightings
from app.events.models import Event
from app.qbo import BudgetWait, QboError, ReadPurpose, ReadsWait
from app.sync.deps import SyncDeps
from app.sync.locks import claim, release
from app.sync.owned import ENTITY_TYPES
from app.sync.realm import RealmApi
from app.uow import UnitOfWork, unit_of_work

logger = logging.getLogger(__name__)

CDC_ENTITIES = [
    "Customer",
    "Item",
    "Invoice",
    "Payment",
    "CreditMemo",
    "SalesReceipt",
    "RefundReceipt",
]
CDC_CAP = 1000  # objects per CDC answer (Intuit)
CDC_LOOKBACK = timedelta(days=30)
# Never ask CDC for more than 30 days: keep a margin for clocks.
CDC_MARGIN = timedelta(hours=1)
# The next run starts this long before the previous answer's time: a change stamped just
# before that moment but committed after it is not missed (duplicates are dropped).
CDC_OVERLAP = timedelta(minutes=2)
# A company is one "with webhooks" while a webhook of it arrived this recently: its CDC then
# runs once a day (`cdc_interval_with_webhooks_minutes`), a backstop of what they missed.
WEBHOOK_MEMORY = timedelta(days=7)
# ... and after that for as long as every write of ours was followed by a webhook within
# this long: an idle company gets no webhook because nothing changes, not because they
# stopped (else it would fall back to a sweep every CDC_INTERVAL_MINUTES, ~2,900 reads a
# month); a write that none followed is what says they stopped.
WEBHOOK_ANSWER = timedelta(hours=1)
# A CDC pass at least this long after the previous one is the company's daily sweep: it goes
# on when the month's reads run low, the others wait (app.qbo.meter).
DAILY_SWEEP = timedelta(hours=23)
# Webhook sightings of a claim that need a read are read with one CDC call instead of one
# GET each, from this many on, over changes at most CDC_LOOKBACK old.
PREFETCH_FROM = 2
# Looks (BUSY_RETRY apart) at a change a write of ours still being recorded may have made,
# before it is read from QBO like any other.
ECHO_WAITS = 5


def _api(deps: SyncDeps, realm_id: str) -> RealmApi:
    return RealmApi(
        deps.settings,
        deps.keeper,
        realm_id,
        deps.transport,
        deps.budget,
        deps.http,
        deps.metrics,
        meter=deps.meter,
    )


@asynccontextmanager
async def _unit_of_work(deps: SyncDeps) -> AsyncIterator[UnitOfWork]:
    """A unit of work on the worker's engine; its hints go to the worker's Redis."""
    factory = partial(AsyncSession, deps.engine, expire_on_commit=False)
    async with unit_of_work(factory, deps.redis) as uow:
        yield uow


async def process_realm_changes(deps: SyncDeps, realm_id: str) -> int:
    """Classify every due sighting of a realm; returns how many were looked at."""
    handled = 0
    while True:
        async with _unit_of_work(deps) as uow:
            sights = await claim_changes(uow.session, realm_id)
            settled = await settle_echoes(uow.session, sights)
        if not sights:
            return handled
        handled += len(settled)
        open_sights = [s for s in sights if s.id not in settled]
        prefetched = await _prefetch(deps, realm_id, open_sights)
        for sight in open_sights:
            try:
                await handle_sight(deps, sight, prefetched)
            except BudgetWait as wait:
                async with _unit_of_work(deps) as uow:
                    await later(uow.session, sight, timedelta(seconds=wait.seconds), "QBO budget")
            handled += 1


Records = dict[tuple[str, str], dict[str, Any]]


async def _prefetch(deps: SyncDeps, realm_id: str, sights: list[Sight]) -> Records:
    """The records of webhook sightings, read with one CDC call (a metered read) instead
    of one GET per record, when enough of them may need a read: entity and Id -> the
    newest version CDC answered (deletions included). Empty when CDC cannot answer (the
    GETs then follow as before)."""
    wanted = [
        s
        for s in sights
        if s.found_by == FoundBy.WEBHOOK.value and s.entity in ENTITY_TYPES and s.changed_at
    ]
    if len(wanted) < PREFETCH_FROM:
        return {}
    now = utcnow()
    oldest = min(s.changed_at for s in wanted if s.changed_at)
    if oldest < now - CDC_LOOKBACK + CDC_MARGIN:
        return {}
    entities = sorted({s.entity for s in wanted})
    try:
        answer = await _api(deps, realm_id).cdc(
            entities, oldest - CDC_OVERLAP, purpose=ReadPurpose.DRIFT_RECHECK
        )
    except (QboError, BudgetWait, ConnectionUnavailable, RefreshFailed) as err:
        logger.info("CDC for webhook sightings failed: %s", err, extra={"realm_id": realm_id})
        return {}
    objects = _objects(answer)
    if sum(len(rows) for rows in objects.values()) >= CDC_CAP:
        return {}  # perhaps not every change: read each record itself
    found: Records = {}
    for entity, rows in objects.items():
        for row in rows:
            if row.get("Id") is not None:
                found[(entity, str(row["Id"]))] = row
    return found


def _covers(record: dict[str, Any], sight: Sight) -> bool:
    """Whether a record CDC answered is at least as new as the change a webhook announced
    (a deletion always is)."""
    if record.get("status") == "Deleted":
        return True
    stamp = parse_time((record.get("MetaData") or {}).get("LastUpdatedTime"))
    return stamp is not None and sight.changed_at is not None and stamp >= sight.changed_at


async def handle_sight(deps: SyncDeps, sight: Sight, prefetched: Records | None = None) -> None:
    """Classify one sighting and act on it; it ends `done` or is looked at again later.
    A webhook's record is taken from `prefetched` (one CDC answer) when it is there and
    new enough, else read from QBO."""
    if sight.entity not in ENTITY_TYPES:
        async with _unit_of_work(deps) as uow:
            await finish(
                uow.session, sight.id, f"{sight.entity} is not an entity this service syncs"
            )
        return
    async with _unit_of_work(deps) as uow:
        if await active_connection(uow.session, sight.realm_id) is None:
            known = await uow.session.scalar(
                select(Connection.id).where(Connection.realm_id == sight.realm_id)
            )
            if known is None:
                await finish(uow.session, sight.id, "no connection for this company")
            else:
                await later(
                    uow.session, sight, timedelta(minutes=5), "the company is not connected"
                )
            return
        mapping = await find_mapping(uow.session, sight)
        if mapping is None:
            await _unmapped(deps, uow.session, sight)
            return
        key = EntityKey(sight.realm_id, mapping.entity_type, mapping.external_id)
    async with deps.engine.connect() as lock:
        if not await claim(lock, [key]):
            async with _unit_of_work(deps) as uow:
                await later(uow.session, sight, timedelta(seconds=2), "the record is being synced")
            return
        try:
            await _classify_locked(deps, sight, prefetched or {})
        finally:
            await release(lock, [key])


async def _unmapped(deps: SyncDeps, session: AsyncSession, sight: Sight) -> None:
    if sight.operation in ("Delete", "Merge"):
        await finish(session, sight.id, "not a record of ours")
        return
    grace = deps.settings.drift_unmapped_recheck_seconds
    if sight.attempts <= 1 and grace > 0:
        # Our own create is announced before its mapping is stored: look once more.
        await later(session, sight, timedelta(seconds=grace), "not mapped yet; looking again")
        return
    await count_unmapped(session, sight)
    await finish(session, sight.id, "created in QBO, not by a caller: counted, not imported")


async def _echo(deps: SyncDeps, sight: Sight) -> bool:
    """Deal with a webhook's change without reading QBO when it can be: our own write
    coming back ends `done`; one that a write of ours still being recorded may have made
    is looked at again shortly. Returns False when the record must be read."""
    async with _unit_of_work(deps) as uow:
        mapping = await find_mapping(uow.session, sight)
        if mapping is None:
            return False
        reason = await echo_of_ours(uow.session, sight, mapping)
        if reason is None:
            if sight.attempts <= ECHO_WAITS and await write_in_flight(uow.session, sight, mapping):
                why = "a write of ours that may have made this change is being recorded"
                await later(uow.session, sight, BUSY_RETRY, why)
                return True
            # That write may have been recorded between the first look and the last.
            reason = await echo_of_ours(uow.session, sight, mapping)
        if reason is None:
            return False
        await finish(uow.session, sight.id, f"no drift: {reason} (not read)")
    return True


async def _classify_locked(deps: SyncDeps, sight: Sight, prefetched: Records) -> None:
    record: dict[str, Any] | None
    known = prefetched.get((sight.entity, sight.qbo_id))
    if sight.found_by == FoundBy.CDC.value:
        record = None if (sight.record or {}).get("status") == "Deleted" else sight.record
    elif known is not None and _covers(known, sight):
        if await _echo(deps, sight):
            return
        record = None if known.get("status") == "Deleted" else known
    else:
        if await _echo(deps, sight):
            return
        try:
            api = _api(deps, sight.realm_id)
            record = await api.read(sight.entity, sight.qbo_id, purpose=ReadPurpose.DRIFT_RECHECK)
        except QboError as err:
            if not is_not_found(err):
                async with _unit_of_work(deps) as uow:
                    delay = timedelta(seconds=min(5 * 2 ** min(sight.attempts, 10), 3600))
                    await later(uow.session, sight, delay, f"reading it from QBO failed: {err}")
                return
            record = None
        except (ConnectionUnavailable, RefreshFailed) as err:
            async with _unit_of_work(deps) as uow:
                await later(uow.session, sight, timedelta(minutes=5), f"no access to QBO: {err}")
            return
    async with _unit_of_work(deps) as uow:
        mapping = await find_mapping(uow.session, sight)
        if mapping is None:
            await finish(uow.session, sight.id, "the mapping is gone")
            return
        verdict = classify_sight(sight, mapping, record)
        settings = await effective_settings(uow.session, sight.realm_id, deps.settings)
        policy = settings.drift_policy(mapping.entity_type)
        outcome = await record_verdict(uow.session, sight, mapping, verdict, record, policy)
        await finish(uow.session, sight.id, outcome.result)
        if outcome.drift is not None:
            # The restoring event's pump, and the `drift.found` notice's delivery.
            restoring = restore_key(outcome.drift)
            if restoring is not None:
                uow.hint_sync([restoring])
            uow.notice()
    if deps.metrics is not None and outcome.drift is not None:
        labels = {"kind": outcome.drift.kind, "found_by": outcome.drift.found_by}
        await deps.metrics.incr(DRIFT_FOUND, labels)


# -- CDC ------------------------------------------------------------------------------


def _objects(answer: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """CDC's objects per entity name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for block in answer.get("CDCResponse") or []:
        for response in (block or {}).get("QueryResponse") or []:
            for name, rows in (response or {}).items():
                if isinstance(rows, list):
                    found.setdefault(name, []).extend(r for r in rows if isinstance(r, dict))
    return found


def _sighting(realm_id: str, entity: str, row: dict[str, Any]) -> Sighting:
    stamp = str((row.get("MetaData") or {}).get("LastUpdatedTime") or "")
    changed_at = parse_time(stamp)
    deleted = row.get("status") == "Deleted"
    operation = "Delete" if deleted else "Update"
    when = changed_at.isoformat() if changed_at else stamp
    return Sighting(
        f"cdc:{realm_id}:{entity}:{row.get('Id')}:{operation}:{when}",
        realm_id,
        entity,
        str(row.get("Id")),
        operation,
        changed_at,
    )


async def _store(
    deps: SyncDeps, realm_id: str, entity: str, rows: list[dict[str, Any]]
) -> list[str]:
    kept = [r for r in rows if r.get("Id") is not None]
    sightings = [_sighting(realm_id, entity, r) for r in kept]
    records = {s.dedupe_key: row for s, row in zip(sightings, kept, strict=True)}
    async with _unit_of_work(deps) as uow:
        return await store_sightings(uow.session, sightings, FoundBy.CDC.value, records)


async def _entity_since(
    deps: SyncDeps,
    api: RealmApi,
    realm_id: str,
    entity: str,
    since: datetime,
    purpose: ReadPurpose,
) -> int:
    """Read one entity's changes since `since`, moving the start past each full answer
    (objects come oldest first), until an answer is not full. Returns objects seen."""
    seen = 0
    while True:
        rows = _objects(await api.cdc([entity], since, purpose=purpose)).get(entity, [])
        await _store(deps, realm_id, entity, rows)
        seen += len(rows)
        if len(rows) < CDC_CAP:
            return seen
        stamps = [
            t
            for r in rows
            if r.get("status") != "Deleted"
            and (t := parse_time((r.get("MetaData") or {}).get("LastUpdatedTime")))
        ]
        newest = max(stamps, default=since)
        if newest <= since:
            # 1000 changes in one instant: nothing later can be asked for separately.
            logger.warning(
                "CDC: %d %s objects share one timestamp; moving on",
                len(rows),
                entity,
                extra={"realm_id": realm_id},
            )
            return seen
        since = newest


async def cdc_realm(deps: SyncDeps, realm_id: str) -> int:
    """One CDC pass for a realm from its checkpoint; returns the objects seen. The
    checkpoint moves only after every object is stored as a sighting."""
    now = utcnow()
    async with _unit_of_work(deps) as uow:
        connection = await active_connection(uow.session, realm_id)
        if connection is None:
            return 0
        checkpoint = await uow.session.get(CdcCheckpoint, realm_id)
        start = checkpoint.changed_since if checkpoint else (connection.connected_at or now)
        last = checkpoint.last_run_at if checkpoint else None
    daily = last is None or last <= now - DAILY_SWEEP
    purpose = ReadPurpose.CDC_DAILY if daily else ReadPurpose.CDC_SWEEP
    floor = now - CDC_LOOKBACK + CDC_MARGIN
    gap = None
    if start < floor:
        gap = f"changes between {start.isoformat()} and {floor.isoformat()} are beyond CDC"
        logger.warning("CDC: %s", gap, extra={"realm_id": realm_id})
        start = floor
    api = _api(deps, realm_id)
    try:
        answer = await api.cdc(CDC_ENTITIES, start, purpose=purpose)
        objects = _objects(answer)
        asked_at = parse_time(answer.get("time")) or now
        seen = 0
        if sum(len(rows) for rows in objects.values()) >= CDC_CAP:
            # Full: ask entity by entity, each moving its own start forward.
            for entity in CDC_ENTITIES:
                seen += await _entity_since(deps, api, realm_id, entity, start, purpose)
        else:
            for entity, rows in objects.items():
                await _store(deps, realm_id, entity, rows)
                seen += len(rows)
    except ReadsWait as err:
        # Not a failure of QBO: the pass waits for reads (its daily one goes on at 95 %).
        await _checkpoint(deps, realm_id, start, now, error=str(err), seen=0)
        return 0
    except (QboError, ConnectionUnavailable, RefreshFailed) as err:
        await _checkpoint(deps, realm_id, start, now, error=str(err), seen=0)
        raise
    await _checkpoint(deps, realm_id, asked_at - CDC_OVERLAP, now, error=gap, seen=seen)
    return seen


async def _checkpoint(
    deps: SyncDeps, realm_id: str, since: datetime, now: datetime, *, error: str | None, seen: int
) -> None:
    statement = pg_insert(CdcCheckpoint).values(
        realm_id=realm_id, changed_since=since, last_run_at=now, last_error=error, objects_seen=seen
    )
    async with _unit_of_work(deps) as uow:
        if seen:  # the sightings just stored are classified by the realm's change job
            uow.hint_changes([realm_id])
        await uow.session.execute(
            statement.on_conflict_do_update(
                index_elements=["realm_id"],
                set_={
                    "changed_since": statement.excluded.changed_since,
                    "last_run_at": now,
                    "last_error": error,
                    "objects_seen": CdcCheckpoint.objects_seen + seen,
                },
            )
        )


async def cdc_due_realms(
    session: AsyncSession,
    interval: timedelta,
    with_webhooks: timedelta | None = None,
    *,
    daily_only: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """Active realms whose last CDC pass is older than their interval (or never ran): a
    company whose webhooks arrive (one came within WEBHOOK_MEMORY, or none of our writes
    since the last one went without: an idle company stays one) every `with_webhooks`
    (default: `interval`), the others every `interval`. With `daily_only` (the month's reads
    run low) every company once a day at most. `now`: the moment asked about (a bench plays
    a month of them)."""
    now = now or utcnow()
    day = timedelta(days=1)
    if daily_only:
        interval = max(interval, day)
        with_webhooks = max(with_webhooks or interval, day)
    hooked = with_webhooks if with_webhooks is not None else interval
    cutoff, hooked_cutoff = now - interval, now - hooked
    last_webhook = (
        select(func.max(QboChange.received_at))
        .where(
            QboChange.realm_id == Connection.realm_id,
            QboChange.found_by == FoundBy.WEBHOOK.value,
        )
        .scalar_subquery()
    )
    # A write of ours no webhook followed (after the last one came, long enough ago).
    unanswered_write = exists().where(
        Event.realm_id == Connection.realm_id,
        Event.synced_at > last_webhook + WEBHOOK_ANSWER,
        Event.synced_at <= now - WEBHOOK_ANSWER,
    )
    # Never NULL: a company that never had a webhook is one without.
    webhooks_arrive = last_webhook.is_not(None) & or_(
        last_webhook >= now - WEBHOOK_MEMORY, ~unanswered_write
    )
    last = CdcCheckpoint.last_run_at
    rows = await session.execute(
        select(Connection.realm_id)
        .outerjoin(CdcCheckpoint, CdcCheckpoint.realm_id == Connection.realm_id)
        .where(
            Connection.status == "active",
            or_(
                last.is_(None),
                (last <= hooked_cutoff) & webhooks_arrive,
                (last <= cutoff) & ~webhooks_arrive,
            ),
        )
    )
    return [r[0] for r in rows]
