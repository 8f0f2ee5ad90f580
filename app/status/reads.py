"""The month's QBO calls in PostgreSQL: the fold of the meter's Redis counts (a worker cron,
at least every minute), the allowance alerts, and what `/sync-status`, `/metrics` and the
ops console show of the month's reads.

The month's reads are what PostgreSQL holds (`qbo_call_usage`) plus what Redis counted
since the last fold (app.qbo.meter): losing Redis loses at most the counts of one fold
interval, never the month. Each fold is added once (`qbo_call_folds` holds its id), so a
fold that failed half-way is retried without counting twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.models import NoticeKind
from app.callbacks.service import enqueue_notice_to_all
from app.db import utcnow
from app.qbo import (
    ALERT_LEVELS,
    OPTIONAL_STOP,
    CallKind,
    Fold,
    ReadMeter,
    month_of,
    month_start,
    next_month_start,
)
from app.status.models import QboCallFold, QboCallUsage, ReadAlert

logger = logging.getLogger(__name__)

TOP_COMPANIES = 10
FOLD_MEMORY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class AlertSent:
    """An allowance level the month just reached (announced once per month)."""

    month: str
    level: int  # percent
    reads: int
    allowance: int

    def details(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "level_percent": self.level,
            "reads": self.reads,
            "allowance": self.allowance,
            "what_happens": _consequence(self.level),
        }


def _consequence(level: int) -> str:
    if level >= 100:
        return "every QBO read waits for the next month; writes go on"
    if level >= round(OPTIONAL_STOP * 100):
        return (
            "optional reads (CDC sweeps beyond the daily one, drift rechecks, reference"
            " lists, imports, PDFs) wait for the next month; syncing goes on"
        )
    return "the month's QBO read allowance is running low"


async def add_fold(session: AsyncSession, fold: Fold) -> bool:
    """Add a fold's counts to the month's usage, unless this fold was added before."""
    added = await session.scalar(
        pg_insert(QboCallFold)
        .values(id=fold.id, folded_at=utcnow())
        .on_conflict_do_nothing()
        .returning(QboCallFold.id)
    )
    if added is None:
        return False
    rows = [
        {"month": m, "realm_id": r, "kind": k.value, "calls": n}
        for (m, r, k), n in sorted(fold.counts.items())
    ]
    if rows:
        statement = pg_insert(QboCallUsage).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["month", "realm_id", "kind"],
                set_={"calls": QboCallUsage.calls + statement.excluded.calls},
            )
        )
    return True


async def folded_reads(session: AsyncSession, months: set[str]) -> dict[str, int]:
    """Reads PostgreSQL holds per month (each month asked for, 0 when none)."""
    rows = await session.execute(
        select(QboCallUsage.month, func.sum(QboCallUsage.calls))
        .where(QboCallUsage.month.in_(months), QboCallUsage.kind == CallKind.READ.value)
        .group_by(QboCallUsage.month)
    )
    found = {str(m): int(n or 0) for m, n in rows}
    return {m: found.get(m, 0) for m in months}


def month_base_loader(factory: async_sessionmaker[AsyncSession]) -> Callable[[str], Awaitable[int]]:
    """What a ReadMeter seeds a month's base from when Redis lost it: the reads PostgreSQL
    holds of that month (one short query)."""

    async def load(month: str) -> int:
        async with factory() as session:
            return (await folded_reads(session, {month}))[month]

    return load


async def fold_calls(
    session: AsyncSession, meter: ReadMeter, commit: Callable[[], Awaitable[None]]
) -> int:
    """Fold what the meter counted into PostgreSQL and set the month's base in Redis
    (also after Redis lost it, when there is nothing to fold). `commit` commits `session`
    (the fold is in PostgreSQL before Redis forgets it). Returns the calls folded."""
    fold = await meter.take_pending()
    month = month_of(meter.now())
    months = {month}
    if fold is not None:
        await add_fold(session, fold)
        months |= {m for m, _, _ in fold.counts}
        await session.execute(
            delete(QboCallFold).where(QboCallFold.folded_at < utcnow() - FOLD_MEMORY)
        )
    await commit()
    bases = await folded_reads(session, months)
    if fold is not None:
        await meter.folded(fold, bases)
        return sum(fold.counts.values())
    await meter.set_base(month, bases[month])
    return 0


async def due_alerts(session: AsyncSession, meter: ReadMeter) -> list[AlertSent]:
    """Levels of the allowance the month has reached and not announced yet, recorded as
    announced (in the caller's transaction), with a `reads.alert` callback notice to every
    caller's callback each."""
    if meter.allowance <= 0:
        return []
    reads = await meter.month_reads()
    sent: list[AlertSent] = []
    for share in ALERT_LEVELS:
        level = round(share * 100)
        if reads.used < meter.allowance * share:
            continue
        new = await session.scalar(
            pg_insert(ReadAlert)
            .values(month=reads.month, level=level, reads=reads.used, sent_at=utcnow())
            .on_conflict_do_nothing()
            .returning(ReadAlert.level)
        )
        if new is None:
            continue
        alert = AlertSent(reads.month, level, reads.used, meter.allowance)
        await enqueue_notice_to_all(session, NoticeKind.READS_ALERT.value, alert.details())
        logger.warning(
            "QBO reads: %d %% of the month's allowance used (%d of %d): %s",
            level,
            reads.used,
            meter.allowance,
            _consequence(level),
        )
        sent.append(alert)
    return sent


@dataclass(frozen=True, slots=True)
class CompanyReads:
    realm_id: str
    reads: int


@dataclass(frozen=True, slots=True)
class ReadsReport:
    """The month's QBO calls as `/sync-status` shows them."""

    month: str
    allowance: int  # 0: unmetered tier
    reads: int
    writes: int
    oauth: int
    projected: int  # reads at month end at the month's rate so far
    spent: bool  # QBO said the month's reads are used up
    top: list[CompanyReads] = field(default_factory=list)

    @property
    def used_share(self) -> float | None:
        return self.reads / self.allowance if self.allowance else None

    @property
    def state(self) -> str:
        """`ok`, `alert` (80 %), `optional_paused` (95 %), `reads_paused` (100 % or QBO
        said so)."""
        if self.spent or (self.allowance and self.reads >= self.allowance):
            return "reads_paused"
        share = self.used_share or 0.0
        if share >= OPTIONAL_STOP:
            return "optional_paused"
        if share >= ALERT_LEVELS[0]:
            return "alert"
        return "ok"


def projected(used: int, now: datetime) -> int:
    """Reads at the end of `now`'s month if they go on at the month's rate so far."""
    start = month_start(month_of(now))
    elapsed = max((now - start).total_seconds(), 60.0)
    whole = (next_month_start(now) - start).total_seconds()
    return round(used * whole / elapsed)


async def reads_report(session: AsyncSession, meter: ReadMeter | None) -> ReadsReport:
    """The month's calls: PostgreSQL's folded counts plus Redis' not yet folded ones
    (without Redis, the folded ones only)."""
    now = meter.now() if meter is not None else utcnow()
    month = month_of(now)
    rows = await session.execute(
        select(QboCallUsage.realm_id, QboCallUsage.kind, QboCallUsage.calls).where(
            QboCallUsage.month == month
        )
    )
    by_kind: dict[str, int] = {k.value: 0 for k in CallKind}
    per_realm: dict[str, int] = {}
    for realm_id, kind, calls in rows:
        by_kind[kind] = by_kind.get(kind, 0) + int(calls)
        if kind == CallKind.READ.value:
            per_realm[realm_id] = per_realm.get(realm_id, 0) + int(calls)
    spent = False
    allowance = 0
    if meter is not None:
        allowance = meter.allowance
        try:
            for (m, realm_id, kind), n in (await meter.unfolded()).items():
                if m != month:
                    continue
                by_kind[kind.value] = by_kind.get(kind.value, 0) + n
                if kind is CallKind.READ:
                    per_realm[realm_id] = per_realm.get(realm_id, 0) + n
            spent = (await meter.month_reads(month)).spent
        except Exception:
            logger.warning("the read meter could not be read", exc_info=True)
    reads = by_kind[CallKind.READ.value]
    top = sorted(per_realm.items(), key=lambda item: (-item[1], item[0]))[:TOP_COMPANIES]
    return ReadsReport(
        month=month,
        allowance=allowance,
        reads=reads,
        writes=by_kind[CallKind.WRITE.value],
        oauth=by_kind[CallKind.OAUTH.value],
        projected=projected(reads, now),
        spent=spent,
        top=[CompanyReads(r, n) for r, n in top],
    )
