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

This module is the loop; each step lives in its own module: app.sync.locks (the advisory
locks), app.sync.selection and app.sync.dependencies (step 1), app.sync.calls and
app.sync.outcomes (step 2: the write, and what its failure means), app.sync.recording
(step 3). app.sync.batch runs the same steps for many records in one QBO batch call.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.keys import EntityKey
from app.sync.calls import call_qbo
from app.sync.deps import SyncDeps
from app.sync.locks import claim, release
from app.sync.outcomes import Deferred, NoConnection, count_outcome
from app.sync.recording import record
from app.sync.results import JobOutcome, JobResult
from app.sync.selection import after_prepare, prepare
from app.uow import Deliver, UnitOfWork, unit_of_work

# Events one job run handles before it yields the worker slot (the sweeper brings it back).
MAX_STEPS = 200


async def sync_entity(deps: SyncDeps, key: EntityKey) -> JobResult:
    """Work through the entity's due events. Safe to run twice and to kill at any point."""
    async with deps.engine.connect() as conn:
        if not await claim(conn, [key]):
            return JobResult(JobOutcome.BUSY, retry_in=1.0)
        try:
            return await _run(deps, conn, key)
        finally:
            await release(conn, [key])


async def _run(deps: SyncDeps, conn: AsyncConnection, key: EntityKey) -> JobResult:
    handled = 0
    for _ in range(MAX_STEPS):
        async with step_unit(deps, conn) as uow:
            step = await prepare(deps, uow.session, key)
        await after_prepare(deps, conn, key, step)
        if step.done is not None:
            return JobResult(step.done.result, handled, step.done.retry_in)
        if step.continue_now:
            handled += 1
            continue
        assert step.work is not None
        assert step.event is not None
        outcome = await call_qbo(deps, step.work, key)
        async with step_unit(deps, conn) as uow:
            released, delay = await record(deps, uow.session, step.event, step.work, outcome)
            uow.hint_sync(released)
        await count_outcome(deps, outcome)
        handled += 1
        if isinstance(outcome, Deferred) and outcome.realm_wide:
            return JobResult(JobOutcome.BUDGET, handled, delay)
        if delay is not None:
            return JobResult(JobOutcome.RETRY, handled, delay)
        if isinstance(outcome, NoConnection):
            return JobResult(JobOutcome.WAITING_CONNECTION, handled)
    return JobResult(JobOutcome.IDLE, handled, retry_in=0.0)


def step_unit(
    deps: SyncDeps, conn: AsyncConnection, deliver: Deliver | None = None
) -> AbstractAsyncContextManager[UnitOfWork]:
    """One step's unit of work, on the entity's locked connection: committed at the end of
    the step, its hints (released records, callback notices) sent after the commit."""
    factory = partial(AsyncSession, bind=conn, expire_on_commit=False)
    return unit_of_work(factory, deps.redis, deliver)
