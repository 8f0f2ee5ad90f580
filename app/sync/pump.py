"""The realm pump: one arq job per realm works through that realm's due records.

Why per realm: the budget is per realm, and so is a backlog. One job per realm means a
company with 10,000 queued events is one entry in the arq queue, not 10,000 entries in
front of another company's single invoice; each realm's pump starts as soon as a worker
slot is free, and leaves it after `SLICE_SECONDS` (re-queued behind the others) or as soon
as its budget says "wait", deferring itself to that moment instead of holding the slot.

Inside, lanes work concurrently (as many as the realm may have calls in flight): single
lanes take one record at a time (`sync_entity`), and one batch lane sends up to
`QBO_BATCH_SIZE` records per batch call while at least two records are due and the batch
budget allows, sending singles meanwhile. The realm's due records are read from PostgreSQL
in dependency order (customers and items, then invoices, then payments), oldest first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.hints import clear_dirty, is_dirty, realm_pump
from app.core.keys import EntityKey
from app.db import utcnow
from app.events import lifecycle as event_store
from app.qbo import YIELD_TO_BATCHES
from app.sync.batch import sync_batch
from app.sync.deps import SyncDeps
from app.sync.engine import sync_entity
from app.sync.results import JobOutcome

logger = logging.getLogger(__name__)

SLICE_SECONDS = 60.0
REFILL_BATCH = 1000
# A lane with nothing to do while others work re-reads the due records this often: the
# others may release waiting children.
IDLE_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class PumpResult:
    handled: int
    retry_in: float | None  # None: nothing left to do


async def due_keys(deps: SyncDeps, realm_id: str, limit: int) -> list[EntityKey]:
    """The realm's records with due events, parents' tiers first, oldest first."""
    async with AsyncSession(deps.engine) as session:
        return await event_store.due_records(session, realm_id, utcnow(), limit)


@dataclass
class _Pump:
    deps: SyncDeps
    realm_id: str
    deadline: float
    queue: deque[EntityKey] = field(default_factory=deque)
    taken: set[EntityKey] = field(default_factory=set)
    busy: int = 0
    handled: int = 0
    stop_for: float | None = None  # the realm's budget is spent for this long
    wake_in: float | None = None  # the earliest retry of a record met on the way
    batch_rest_until: float = 0.0
    last_refill: float = 0.0
    refill_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _later(self, seconds: float | None) -> None:
        if seconds is not None:
            self.wake_in = seconds if self.wake_in is None else min(self.wake_in, seconds)

    async def _refill(self, force: bool) -> None:
        async with self.refill_lock:
            if self.queue:
                return
            if not force and time.monotonic() - self.last_refill < IDLE_POLL_SECONDS:
                return
            self.last_refill = time.monotonic()
            if self.deps.redis is not None:
                await clear_dirty(self.deps.redis, realm_pump(self.realm_id))
            for key in await due_keys(self.deps, self.realm_id, REFILL_BATCH + len(self.taken)):
                if key not in self.taken:
                    self.queue.append(key)
                    self.taken.add(key)

    async def prefill(self) -> None:
        await self._refill(force=True)

    async def _take(self, most: int) -> list[EntityKey]:
        while self.stop_for is None and time.monotonic() < self.deadline:
            if not self.queue:
                # With nobody else at work, this look decides whether the pump is done.
                await self._refill(force=self.busy == 0)
            if self.queue:
                return [self.queue.popleft() for _ in range(min(most, len(self.queue)))]
            if self.busy == 0:
                return []
            await asyncio.sleep(IDLE_POLL_SECONDS)
        return []

    def _done(self, keys: list[EntityKey]) -> None:
        self.taken.difference_update(keys)

    async def _single(self, key: EntityKey) -> None:
        self.busy += 1
        try:
            result = await sync_entity(self.deps, key)
        finally:
            self.busy -= 1
            self._done([key])
        self.handled += result.handled
        if result.result is JobOutcome.BUDGET:
            self.stop_for = max(self.stop_for or 0.0, result.retry_in or 0.0)
        elif result.result in (JobOutcome.RETRY, JobOutcome.BUSY):
            self._later(result.retry_in)

    def batching(self) -> bool:
        """Whether the batch lane can use budget now (singles then leave it room)."""
        return len(self.queue) >= 2 and time.monotonic() >= self.batch_rest_until

    async def single_lane(self) -> None:
        YIELD_TO_BATCHES.set(self.batching)
        while keys := await self._take(1):
            await self._single(keys[0])

    async def batch_lane(self) -> None:
        size = self.deps.settings.qbo_batch_size
        while True:
            if time.monotonic() < self.batch_rest_until or len(self.queue) < 2:
                # Too few for a batch, or no batch budget now: help with singles.
                keys = await self._take(1)
                if not keys:
                    return
                await self._single(keys[0])
                continue
            keys = await self._take(size)
            if not keys:
                return
            self.busy += 1
            try:
                result = await sync_batch(self.deps, keys)
            finally:
                self.busy -= 1
                self._done(keys)
            self.handled += result.handled
            if result.budget_wait is not None:
                self.batch_rest_until = time.monotonic() + result.budget_wait
            if result.realm_wait is not None:
                self.stop_for = max(self.stop_for or 0.0, result.realm_wait)
            self._later(result.retry_in)


async def pump_realm(deps: SyncDeps, realm_id: str) -> PumpResult:
    """Work the realm's due records until none is left, the slice ends, or the budget
    says to wait. Returns when to run again (None: when new events arrive)."""
    pump = _Pump(deps, realm_id, time.monotonic() + SLICE_SECONDS)
    await pump.prefill()
    lanes = max(deps.settings.qbo_limit_in_flight - 1, 1)
    work = [pump.single_lane() for _ in range(lanes)]
    if deps.settings.qbo_batch_size >= 2:
        # First, so that a backlog found at the start goes out as a batch.
        work.insert(0, pump.batch_lane())
    tasks = [asyncio.ensure_future(lane) for lane in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # One lane failed (or the job was cancelled): the others end with the job, never
        # after it, on a worker that may be closing its connections. Their records' locks
        # and `syncing` states are what a stopped worker leaves, and are recovered as such.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if pump.stop_for is not None:
        return PumpResult(pump.handled, pump.stop_for)
    if time.monotonic() >= pump.deadline:
        return PumpResult(pump.handled, 0.0)
    if deps.redis is not None and await is_dirty(deps.redis, realm_pump(realm_id)):
        return PumpResult(pump.handled, 0.0)  # events arrived after the last look
    return PumpResult(pump.handled, pump.wake_in)
