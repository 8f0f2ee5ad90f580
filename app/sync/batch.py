"""Many records of one realm in one QBO batch call (at most 30 operations).

Used for backlogs: creates and updates of customers, items, invoices and payments, and
deactivations. A record and its dependent never share a batch: a dependent is only prepared
once its parent has a QBO id, i.e. after the parent's batch was recorded.

Each operation keeps the identity of the write it replaces: its `bId` is the first 10
characters of the requestid it would carry alone (QBO allows 10 with a batch requestid),
and the batch's requestid is derived from all of them, so a retried batch of the same
writes is answered from QBO's memory. An operation whose answer is lost with the batch is
recorded as ambiguous and is looked up before it is sent again, alone. A Fault inside one
item affects only that item; a stale SyncToken or a name already taken goes through the
single-record path at once (re-read, adopt or disambiguate).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.failures import Category
from app.core.keys import EntityKey
from app.events.models import Event
from app.qbo import BudgetWait, QboError, classify_item
from app.sync.apply import with_write_note
from app.sync.calls import applier_for, call_qbo, realm_api
from app.sync.deps import SyncDeps
from app.sync.engine import step_unit
from app.sync.locks import claim, release
from app.sync.outcomes import Deferred, Done, Outcome, count_outcome, outcome_of_error
from app.sync.realm import SentLog
from app.sync.recording import record
from app.sync.selection import after_prepare, prepare
from app.sync.work import Applied, Work
from app.uow import Hints, gather, send_hints

logger = logging.getLogger(__name__)

BATCH_NAMESPACE = uuid.UUID("0b6c1d4e-8f2a-5c7b-9e3d-4a1f6b8c2d05")


@dataclass(frozen=True, slots=True)
class BatchResult:
    handled: int
    # Seconds until the batch budget allows another batch call (the lane sends singles
    # meanwhile); None when it was not the limit.
    budget_wait: float | None = None
    # Seconds until the realm may be called at all (a 429 pause or the minute budget).
    realm_wait: float | None = None
    # Seconds until the earliest retry of a record of this batch.
    retry_in: float | None = None


@dataclass(slots=True)
class _Item:
    key: EntityKey
    event: Event
    work: Work
    bid: str
    operation: str
    body: dict[str, Any]
    outcome: Outcome | None = None


async def sync_batch(deps: SyncDeps, keys: list[EntityKey]) -> BatchResult:
    """Prepare the next event of each record, send the batchable ones in one call and the
    rest alone, and record every outcome. Records another worker holds are skipped."""
    async with deps.engine.connect() as conn:
        locked = await claim(conn, keys)
        try:
            return await _run(deps, conn, locked)
        finally:
            await release(conn, locked)


async def _run(deps: SyncDeps, conn: AsyncConnection, keys: list[EntityKey]) -> BatchResult:
    if not keys:
        return BatchResult(0)
    realm_id = keys[0].realm_id
    applier = applier_for(deps, realm_id)
    items: list[_Item] = []
    alone: list[tuple[EntityKey, Event, Work]] = []
    recorded: list[tuple[Event, Work, Outcome]] = []
    hints = Hints()  # what the steps' commits raise, sent once at the end
    for key in keys:
        async with step_unit(deps, conn, gather(hints)) as uow:
            step = await prepare(deps, uow.session, key)
        await after_prepare(deps, conn, key, step)
        if step.work is None or step.event is None:
            continue
        work = step.work
        try:
            shape = await applier.batch_body(work)
        except Exception as err:  # a bad body is that record's outcome
            recorded.append((step.event, work, await outcome_of_error(deps, err, work, realm_id)))
            continue
        if shape is None:
            alone.append((key, step.event, work))
            continue
        operation, body = shape
        bid = applier.batch_rid(work, operation)[:10]
        items.append(_Item(key, step.event, work, bid, operation, body))

    budget_wait: float | None = None
    if len(items) == 1:  # one record goes out alone, as it would without a backlog
        only = items.pop()
        alone.append((only.key, only.event, only.work))
    if items:
        budget_wait = await _send(deps, realm_id, items)
    for item in items:
        assert item.outcome is not None
        recorded.append((item.event, item.work, item.outcome))
    for key, event, work in alone:
        recorded.append((event, work, await call_qbo(deps, work, key)))

    realm_wait: float | None = None
    retry_in: float | None = None
    for event, work, outcome in recorded:
        async with step_unit(deps, conn, gather(hints)) as uow:
            freed, delay = await record(deps, uow.session, event, work, outcome)
            uow.hint_sync(freed)
        await count_outcome(deps, outcome)
        if isinstance(outcome, Deferred) and outcome.realm_wide and outcome.delay > 0:
            realm_wait = max(realm_wait or 0.0, outcome.delay)
        elif delay is not None:
            retry_in = delay if retry_in is None else min(retry_in, delay)
    await send_hints(deps.redis, hints)
    return BatchResult(len(recorded), budget_wait, realm_wait, retry_in)


async def _send(deps: SyncDeps, realm_id: str, items: list[_Item]) -> float | None:
    """One batch call; sets each item's outcome. Returns the batch budget's wait when the
    call could not be made for it (the items are then due again at once, to go alone)."""
    sent = SentLog()
    api = realm_api(deps, realm_id, sent)
    payload = [{"bId": i.bid, "operation": i.operation, i.work.entity: i.body} for i in items]
    requestid = uuid.uuid5(BATCH_NAMESPACE, "/".join(sorted(i.bid for i in items))).hex
    try:
        answers = await api.batch(payload, requestid)
    except BudgetWait as wait:
        for item in items:
            item.outcome = Deferred(0.0)
        return wait.seconds
    except Exception as err:  # the whole call failed: each item says how
        for item in items:
            item.outcome = await outcome_of_error(deps, err, item.work, realm_id)
        return None
    finally:
        _note_items(sent, items)
    by_bid = {str(a.get("bId")): a for a in answers}
    for item in items:
        answer = by_bid.get(item.bid)
        if answer is None:
            lost = QboError(Category.TRANSIENT, 200, ambiguous=True, note="no answer in the batch")
            item.outcome = await outcome_of_error(deps, lost, item.work, realm_id)
            continue
        error = classify_item(answer)
        if error is None:
            record = next(
                (v for k, v in answer.items() if k.lower() == item.work.entity.lower()), None
            )
            if isinstance(record, dict) and record.get("Id") is not None:
                applied = Applied(
                    str(record["Id"]), str(record.get("SyncToken", "0")), None, record
                )
                item.outcome = Done(with_write_note(applied, item.work))
                continue
            error = QboError(Category.TRANSIENT, 200, note="the batch item holds no record")
        if error.category in (Category.STALE, Category.DUPLICATE_NAME):
            # Re-read and re-apply, or adopt / disambiguate: the single path knows how.
            item.outcome = await call_qbo(deps, item.work, item.key)
            continue
        item.outcome = await outcome_of_error(deps, error, item.work, realm_id)
    return None


def _note_items(sent: SentLog, items: list[_Item]) -> None:
    """Once the batch call left, each event keeps it as its last request, with its own
    operation alone as the BatchItemRequest (the others are other events')."""
    if sent.last is None:
        return
    operations = sent.last["body"]["BatchItemRequest"]
    for item, operation in zip(items, operations, strict=True):
        item.work.sent.last = {**sent.last, "body": {"BatchItemRequest": [operation]}}
