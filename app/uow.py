"""The unit of work: one transaction, and the job hints and notices raised inside it.

Code inside the transaction says what the workers should hear (`uow.hint_sync(keys)`,
`uow.hint_changes(realms)`, `uow.notice()` once a callback notice is queued) instead of
sending it: nothing leaves until the transaction has committed, and a rollback drops it
all, so no worker is woken for a change that did not happen, and none looks before the
change is visible. A hint lost after the commit costs only time: Postgres is the truth and
the sweepers re-send.

Routers get one through `app.deps.UnitOfWorkDep`; jobs and commands open one with
`unit_of_work`. No service commits by itself: the unit of work's owner decides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.hints import enqueue_cdc, enqueue_changes, enqueue_realms, hint_deliveries
from app.core.keys import EntityKey


@dataclass(slots=True)
class Hints:
    """What one transaction asks the workers to do once it has committed. Realm ids keep
    the order they were first raised in; each is sent once."""

    sync: dict[str, None] = field(default_factory=dict)
    changes: dict[str, None] = field(default_factory=dict)
    cdc: dict[str, None] = field(default_factory=dict)
    deliveries: bool = False

    def __bool__(self) -> bool:
        return bool(self.sync or self.changes or self.cdc or self.deliveries)

    def add(self, other: Hints) -> None:
        self.sync.update(other.sync)
        self.changes.update(other.changes)
        self.cdc.update(other.cdc)
        self.deliveries = self.deliveries or other.deliveries


async def send_hints(redis: ArqRedis | None, hints: Hints) -> int:
    """Send committed hints: each realm's pump, change and CDC jobs, then the callback
    delivery job. Returns how many jobs were new. Never raises (each sender logs its
    Redis trouble); without Redis (some tests, commands) nothing is sent."""
    if redis is None:
        return 0
    sent = 0
    if hints.sync:
        sent += await enqueue_realms(redis, hints.sync)
    if hints.changes:
        sent += await enqueue_changes(redis, hints.changes)
    if hints.cdc:
        sent += await enqueue_cdc(redis, hints.cdc)
    if hints.deliveries:
        await hint_deliveries(redis)
    return sent


# How committed hints leave: at once (jobs, commands), after the response (routers), or
# gathered over many transactions and sent once (a batch of records, `gather`).
Deliver = Callable[[Hints], Awaitable[int]]


def gather(into: Hints) -> Deliver:
    """Deliver committed hints into `into`, for the owner to send once with `send_hints`."""

    async def deliver(hints: Hints) -> int:
        into.add(hints)
        return 0

    return deliver


# Where a session keeps the unit of work it belongs to (`UnitOfWork.of`).
_OWNER = "qbo_sync.unit_of_work"


class UnitOfWork:
    """A session whose transaction is committed or rolled back by its owner, with the hints
    raised inside it. Services take it (or its `session`) and never commit."""

    def __init__(self, session: AsyncSession, deliver: Deliver) -> None:
        self.session = session
        session.info[_OWNER] = self
        self._deliver = deliver
        self._hints = Hints()
        # Jobs newly enqueued by the hints sent so far (the sweepers report it).
        self.sent = 0

    @staticmethod
    def of(session: AsyncSession) -> UnitOfWork | None:
        """The unit of work `session` belongs to: code handed only the session (a service
        queueing a callback notice) raises its hints there."""
        owner = session.info.get(_OWNER)
        return owner if isinstance(owner, UnitOfWork) else None

    def hint_sync(self, keys: Iterable[EntityKey]) -> None:
        """After commit, wake the pumps of these records' realms."""
        self.hint_realms(key.realm_id for key in keys)

    def hint_realms(self, realm_ids: Iterable[str]) -> None:
        """After commit, wake these realms' pumps."""
        self._hints.sync.update(dict.fromkeys(realm_ids))

    def hint_changes(self, realm_ids: Iterable[str]) -> None:
        """After commit, wake the jobs that classify these realms' sightings of QBO changes."""
        self._hints.changes.update(dict.fromkeys(realm_ids))

    def hint_cdc(self, realm_ids: Iterable[str]) -> None:
        """After commit, start a CDC pass for these realms."""
        self._hints.cdc.update(dict.fromkeys(realm_ids))

    def notice(self) -> None:
        """A callback notice was queued in this transaction: after commit, wake delivery."""
        self._hints.deliveries = True

    async def commit(self) -> None:
        """Commit, then send the hints raised since the last commit. The session stays
        usable: the next statement begins a new transaction."""
        await self.session.commit()
        hints, self._hints = self._hints, Hints()
        if hints:
            self.sent += await self._deliver(hints)

    async def rollback(self) -> None:
        """Roll back and drop the hints raised since the last commit."""
        self._hints = Hints()
        await self.session.rollback()


@asynccontextmanager
async def unit_of_work(
    factory: Callable[[], AsyncSession],
    redis: ArqRedis | None = None,
    deliver: Deliver | None = None,
) -> AsyncIterator[UnitOfWork]:
    """A unit of work on a new session of `factory`: committed (then its hints sent, through
    `deliver` or at once to `redis`) when the block ends, rolled back when it raises."""
    async with factory() as session:
        uow = UnitOfWork(session, deliver or partial(send_hints, redis))
        try:
            yield uow
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise
