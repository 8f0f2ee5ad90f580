"""The monthly read meter: classification, counting, the reserves of each purpose, QBO's
own "month used up", and the fold into PostgreSQL that survives losing Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.failures import Category
from app.qbo import CallKind, ReadMeter, ReadPurpose, ReadsWait
from app.qbo.meter import call_kind, month_of, next_month_start
from app.status.models import QboCallUsage
from app.status.reads import add_fold, fold_calls, month_base_loader, projected, reads_report

MID_MONTH = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_reads_are_gets_and_queries_writes_are_the_other_posts() -> None:
    assert call_kind("GET", "customer") is CallKind.READ
    assert call_kind("GET", "cdc") is CallKind.READ
    assert call_kind("GET", "companyinfo") is CallKind.READ
    assert call_kind("POST", "query") is CallKind.READ
    assert call_kind("POST", "customer") is CallKind.WRITE
    assert call_kind("POST", "batch") is CallKind.WRITE


def test_months_are_calendar_months_in_utc() -> None:
    assert month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert next_month_start(MID_MONTH) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 11, 30, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)


async def _use(meter: ReadMeter, reads: int, realm: str = "1") -> None:
    for _ in range(reads):
        await meter.count(realm, CallKind.READ, ReadPurpose.SYNC)


async def test_each_read_and_write_is_counted_per_month(redis: ArqRedis) -> None:
    meter = ReadMeter(redis, 100, now=Clock(MID_MONTH))
    await _use(meter, 3, "1")
    await meter.count("2", CallKind.WRITE)
    reads = await meter.month_reads()
    assert (reads.month, reads.used, reads.spent) == ("2026-12", 3, False)
    unfolded = await meter.unfolded()
    assert unfolded == {("2026-12", "1", CallKind.READ): 3, ("2026-12", "2", CallKind.WRITE): 1}


async def test_optional_readers_stop_at_95_percent_and_every_reader_at_100(
    redis: ArqRedis,
) -> None:
    meter = ReadMeter(redis, 100, now=Clock(MID_MONTH))
    await _use(meter, 94)
    await meter.admit("1", ReadPurpose.CDC_SWEEP)
    await _use(meter, 1)
    with pytest.raises(ReadsWait) as held:
        await meter.admit("1", ReadPurpose.CDC_SWEEP)
    assert held.value.category is Category.READS
    # It waits for the next month, not for a minute.
    assert held.value.seconds == pytest.approx(
        (next_month_start(MID_MONTH) - MID_MONTH).total_seconds()
    )
    for purpose in (ReadPurpose.DRIFT_RECHECK, ReadPurpose.REFERENCE_LIST, ReadPurpose.PDF):
        with pytest.raises(ReadsWait):
            await meter.admit("1", purpose)
    # What the sync needs, and what guards exactly-once, goes on until 100 %.
    await meter.admit("1", ReadPurpose.SYNC)
    await meter.admit("1", ReadPurpose.EXACTLY_ONCE)
    await meter.admit("1", ReadPurpose.CDC_DAILY)
    await _use(meter, 5)
    for purpose in ReadPurpose:
        with pytest.raises(ReadsWait):
            await meter.admit("1", purpose)


async def test_the_unmetered_tier_never_holds_a_read_back_unless_qbo_says_so(
    redis: ArqRedis,
) -> None:
    meter = ReadMeter(redis, 0, now=Clock(MID_MONTH))
    await _use(meter, 50)
    await meter.admit("1", ReadPurpose.CDC_SWEEP)
    await meter.spend_month()
    with pytest.raises(ReadsWait, match="QBO says"):
        await meter.admit("1", ReadPurpose.EXACTLY_ONCE)


async def test_a_new_month_starts_from_zero(redis: ArqRedis) -> None:
    clock = Clock(MID_MONTH)
    meter = ReadMeter(redis, 10, now=clock)
    await _use(meter, 10)
    await meter.spend_month()
    with pytest.raises(ReadsWait):
        await meter.admit("1", ReadPurpose.SYNC)
    clock.at = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
    await meter.admit("1", ReadPurpose.CDC_SWEEP)
    assert (await meter.month_reads()).used == 0


async def _usage(factory: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str, str], int]:
    async with factory() as session:
        rows = (await session.execute(select(QboCallUsage))).scalars().all()
    return {(r.month, r.realm_id, r.kind): r.calls for r in rows}


async def _fold(factory: async_sessionmaker[AsyncSession], meter: ReadMeter) -> int:
    async with factory() as session:
        folded = await fold_calls(session, meter, session.commit)
        await session.commit()
    return folded


async def test_the_fold_keeps_the_month_when_redis_is_lost(
    redis: ArqRedis, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    meter = ReadMeter(redis, 100, now=Clock(MID_MONTH))
    await _use(meter, 7, "1")
    await _use(meter, 2, "2")
    await meter.count("1", CallKind.WRITE)
    assert await _fold(session_factory, meter) == 10
    assert await _usage(session_factory) == {
        ("2026-12", "1", "read"): 7,
        ("2026-12", "2", "read"): 2,
        ("2026-12", "1", "write"): 1,
    }
    reads = await meter.month_reads()
    assert (reads.base, reads.fresh) == (9, 0)
    await _use(meter, 3, "1")  # counted, not folded yet: what a flush loses
    assert (await meter.month_reads()).used == 12

    await redis.flushdb()
    assert (await meter.month_reads()).used == 0
    await _use(meter, 1, "2")
    await _fold(session_factory, meter)
    # The month goes on from PostgreSQL: only the unfolded reads were lost.
    assert (await meter.month_reads()).used == 10
    # And the base comes back even when there is nothing to fold.
    await redis.flushdb()
    assert await _fold(session_factory, meter) == 0
    assert (await meter.month_reads()).used == 10
    async with session_factory() as session:
        report = await reads_report(session, meter)
    assert (report.reads, report.writes) == (10, 1)
    assert [(c.realm_id, c.reads) for c in report.top] == [("1", 7), ("2", 3)]


async def test_after_a_flush_the_month_goes_on_from_postgresql_at_once(
    redis: ArqRedis, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    meter = ReadMeter(
        redis, 10, now=Clock(MID_MONTH), base_loader=month_base_loader(session_factory)
    )
    await _use(meter, 10)
    await _fold(session_factory, meter)
    await redis.flushdb()
    # No fold since the flush: the base comes from PostgreSQL, not from zero.
    with pytest.raises(ReadsWait):
        await meter.admit("1", ReadPurpose.SYNC)
    reads = await meter.month_reads()
    assert (reads.base, reads.fresh) == (10, 0)
    # Stored: the next look asks PostgreSQL nothing.
    assert await redis.get(meter.month_key("2026-12", "base")) == b"10"


async def test_a_fold_that_failed_half_way_is_added_once(
    redis: ArqRedis, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    meter = ReadMeter(redis, 100, now=Clock(MID_MONTH))
    await _use(meter, 4)
    fold = await meter.take_pending()
    assert fold is not None
    async with session_factory() as session:
        assert await add_fold(session, fold)
        await session.commit()
    # ... and the process died before Redis heard of it: the next fold takes the same one.
    await _use(meter, 1)
    await _fold(session_factory, meter)
    await _fold(session_factory, meter)
    assert await _usage(session_factory) == {("2026-12", "1", "read"): 5}
    assert (await meter.month_reads()).used == 5


def test_the_projection_follows_the_rate_so_far() -> None:
    # Half of December (31 days) gone at noon on the 16th: 1000 reads make about 2000.
    at = datetime(2026, 12, 16, 12, 0, tzinfo=UTC)
    assert projected(1000, at) == 2000
    assert projected(0, at + timedelta(days=1)) == 0
