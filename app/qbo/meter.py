"""The monthly read meter: every QBO call classed and counted, and reads held to the month's
allowance, in Redis, shared by every process.

Intuit's App Partner Program meters "CorePlus" calls, the reads of the Accounting API (a GET
by id, a query, CDC), per app (our deployment: its client id) per calendar month; writes are
not metered, nor are OAuth's token calls. The Builder tier has 500,000 reads a month; past
them every read is refused with HTTP 429 until the month ends (qbo-facts.md, section 3).

Counting (`count`): one pipelined round trip per call that left, adding to
- `qbo:calls:pending`, a hash of `<month>|<realm>|<kind>` -> calls not yet folded into
  PostgreSQL (the worker's cron folds it at least every minute, `take_pending` and
  `folded`): losing Redis loses at most that minute, never the month;
- `qbo:reads:<month>:fresh`, the month's reads since the last fold, and the `/metrics`
  counter of calls by kind and purpose.

Admission (`admit`, before a read takes its budget slot): the month's reads are
`:base` (what PostgreSQL holds, set by each fold) plus `:fresh`; each `ReadPurpose` has a
priority, and each priority a share of the allowance past which its reads wait for the next
month (`ReadsWait`): optional readers stop at 95 %, the reads the sync needs and the ones
that guard exactly-once at 100 %. When Redis has lost `:base` (a flush, a new server), a
meter given a `base_loader` seeds it from what PostgreSQL holds at the first look, instead
of admitting reads as if the month were at zero until the next fold. When QBO itself says
the month is used up (a 429 whose Fault speaks of the monthly limit,
`QboError.monthly_quota`), `spent` stops every read until the month ends, whatever our
count says. An allowance of 0 is the unmetered tier: counted, never held back (but QBO's
own refusal still parks reads).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

from redis.asyncio import Redis

from app.core.failures import Category
from app.core.metrics import QBO_CALLS, metric_field, metric_key
from app.qbo.limiter import BudgetWait

logger = logging.getLogger(__name__)

PENDING = "qbo:calls:pending"
FOLDING = "qbo:calls:folding"
FOLDING_ID = "qbo:calls:folding:id"
READS_PREFIX = "qbo:reads"
# The share of the allowance past which each priority's reads wait for the next month.
OPTIONAL_STOP = 0.95
ALERT_LEVELS = (0.80, 0.95, 1.0)
# How long the month's keys live in Redis: beyond the month's end, never across the next.
MONTH_KEY_SECONDS = 62 * 86_400
# A month's reads as PostgreSQL holds them (the folded ones), by `YYYY-MM`.
BaseLoader = Callable[[str], Awaitable[int]]


class CallKind(StrEnum):
    """How Intuit counts a call: reads are metered (CorePlus), writes and OAuth are not."""

    READ = "read"
    WRITE = "write"
    OAUTH = "oauth"


def call_kind(method: str, endpoint: str) -> CallKind:
    """A call of the Accounting API by its HTTP method and endpoint (`query`, `cdc`,
    `batch`, an entity): a GET, and a query sent by POST, read; every other POST writes.
    (Our batches carry writes only.)"""
    if method.upper() == "GET" or endpoint.lower() == "query":
        return CallKind.READ
    return CallKind.WRITE


class ReadPriority(IntEnum):
    """How much a read matters once the month's allowance runs low."""

    OPTIONAL = 0  # waits from 95 %: nothing is lost, only later
    ESSENTIAL = 1  # the sync needs it to write: goes on until 100 %
    PROTECTED = 2  # guards exactly-once: goes on until 100 %


class ReadPurpose(StrEnum):
    """Why a read is made; callers pass it to every read of the client. A new reader adds
    its purpose here with its priority (`PRIORITIES`)."""

    SYNC = "sync"  # a company's lists a body needs; the company's profile at connect
    EXACTLY_ONCE = "exactly_once"  # lookup after an ambiguous create, re-read after 5010
    CDC_DAILY = "cdc_daily"  # the one CDC sweep a day per company
    CDC_SWEEP = "cdc_sweep"  # every other CDC sweep
    DRIFT_RECHECK = "drift_recheck"  # a record a webhook announced, read to classify it
    REFERENCE_LIST = "reference_list"  # the API's reads of lists it also caches
    IMPORT = "import"  # reading a company's records into ours
    PDF = "pdf"  # a document's PDF


PRIORITIES: dict[ReadPurpose, ReadPriority] = {
    ReadPurpose.SYNC: ReadPriority.ESSENTIAL,
    ReadPurpose.EXACTLY_ONCE: ReadPriority.PROTECTED,
    ReadPurpose.CDC_DAILY: ReadPriority.ESSENTIAL,
    ReadPurpose.CDC_SWEEP: ReadPriority.OPTIONAL,
    ReadPurpose.DRIFT_RECHECK: ReadPriority.OPTIONAL,
    ReadPurpose.REFERENCE_LIST: ReadPriority.OPTIONAL,
    ReadPurpose.IMPORT: ReadPriority.OPTIONAL,
    ReadPurpose.PDF: ReadPriority.OPTIONAL,
}
STOPS: dict[ReadPriority, float] = {
    ReadPriority.OPTIONAL: OPTIONAL_STOP,
    ReadPriority.ESSENTIAL: 1.0,
    ReadPriority.PROTECTED: 1.0,
}


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment belongs to, as `YYYY-MM`."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_start(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    """Midnight UTC of the first day of the month after `moment`'s."""
    moment = moment.astimezone(UTC)
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


class ReadsWait(BudgetWait):
    """A read that must wait for the next month: the month's allowance is spent (or what is
    left is kept for reads that matter more), or QBO said so. Nothing was sent; writes go
    on. A BudgetWait, so that every reader that already waits for a spent budget waits for
    this one too; its own category tells the engine to defer only the event that needs the
    read, not the realm."""

    category = Category.READS

    def __init__(self, realm_id: str, seconds: float, purpose: ReadPurpose, why: str) -> None:
        super().__init__(realm_id, seconds)
        self.purpose = purpose
        self.why = why
        Exception.__init__(self, f"realm {realm_id}: {why}; this read waits for the next month")

    def reason(self) -> dict[str, Any]:
        return {"category": self.category.value, "code": None, "message": str(self)}


@dataclass(frozen=True, slots=True)
class MonthReads:
    """The month's reads as Redis knows them: folded (`base`) and not yet folded (`fresh`),
    and whether QBO said the month is used up."""

    month: str
    base: int
    fresh: int
    spent: bool

    @property
    def used(self) -> int:
        return self.base + self.fresh


@dataclass(frozen=True, slots=True)
class Fold:
    """Counts taken from Redis to be added to PostgreSQL: `id` names the take, so that a
    fold that failed half-way is retried as the same fold (never counted twice)."""

    id: str
    counts: dict[tuple[str, str, CallKind], int]


TAKE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SET', KEYS[3], ARGV[1])
end
local id = redis.call('GET', KEYS[3]) or ARGV[1]
return {id, redis.call('HGETALL', KEYS[2])}
"""

# ARGV: the fold's id, the number of months, then per month: its name, the reads folded and
# what PostgreSQL now holds of it. One script, so that `base + fresh` never counts a fold
# twice or not at all.
DONE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  local month = ARGV[3 + i * 3]
  local reads, base = tonumber(ARGV[4 + i * 3]), ARGV[5 + i * 3]
  local fresh = KEYS[4] .. ':' .. month .. ':fresh'
  if redis.call('EXISTS', fresh) == 1 then
    redis.call('DECRBY', fresh, reads)
  end
  redis.call('SET', KEYS[4] .. ':' .. month .. ':base', base, 'EX', 5356800)
end
return 1
"""


def _parse(raw: dict[Any, Any]) -> dict[tuple[str, str, CallKind], int]:
    """A counts hash (`<month>|<realm>|<kind>` -> calls) as keys and numbers."""
    counts: dict[tuple[str, str, CallKind], int] = {}
    for field, value in raw.items():
        text = field.decode() if isinstance(field, bytes) else str(field)
        month, realm_id, kind = text.split("|", 2)
        counts[(month, realm_id, CallKind(kind))] = int(value)
    return counts


class ReadMeter:
    """Counts every call and holds reads to the month's allowance (see the module's text).

    `allowance` 0: the unmetered tier. `now` is the meter's clock (tests move it across a
    month). `base_loader` reads what PostgreSQL holds of a month, for a base Redis lost.
    Counting never raises: a lost count is not worth failing a call for."""

    def __init__(
        self,
        redis: Redis,
        allowance: int,
        *,
        now: Callable[[], datetime] | None = None,
        base_loader: BaseLoader | None = None,
    ) -> None:
        self._redis = redis
        self.allowance = allowance
        self._now = now or (lambda: datetime.now(UTC))
        self._base_loader = base_loader
        self._take = redis.register_script(TAKE)
        self._done = redis.register_script(DONE)

    def now(self) -> datetime:
        return self._now()

    @staticmethod
    def month_key(month: str, part: str) -> str:
        return f"{READS_PREFIX}:{month}:{part}"

    async def count(
        self, realm_id: str, kind: CallKind, purpose: ReadPurpose | None = None
    ) -> None:
        """One call that left (whatever its answer): one pipelined round trip."""
        month = month_of(self._now())
        labels = {"kind": kind.value, "purpose": purpose.value if purpose else ""}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(PENDING, f"{month}|{realm_id}|{kind.value}", 1)
                if kind is CallKind.READ:
                    fresh = self.month_key(month, "fresh")
                    pipe.incr(fresh)
                    pipe.expire(fresh, MONTH_KEY_SECONDS)
                pipe.hincrby(metric_key(QBO_CALLS), metric_field(QBO_CALLS, labels), 1)
                await pipe.execute()
        except Exception:
            logger.warning("a QBO call was not counted", exc_info=True)

    async def month_reads(self, month: str | None = None) -> MonthReads:
        month = month or month_of(self._now())
        raw = await self._redis.mget(
            [
                self.month_key(month, "base"),
                self.month_key(month, "fresh"),
                self.month_key(month, "spent"),
            ]
        )
        base, fresh, spent = (int(v) if v is not None else None for v in raw)
        if base is None:
            base = await self._seed_base(month)
        return MonthReads(month, base or 0, max(fresh or 0, 0), bool(spent))

    async def _seed_base(self, month: str) -> int | None:
        """The month's base from PostgreSQL, stored unless a fold stored one meanwhile (one
        query per base lost, not per read); None without a loader or when it fails."""
        if self._base_loader is None:
            return None
        try:
            base = await self._base_loader(month)
        except Exception:
            logger.warning("the month's folded reads could not be read", exc_info=True)
            return None
        key = self.month_key(month, "base")
        await self._redis.set(key, base, ex=MONTH_KEY_SECONDS, nx=True)
        return base

    async def optional_paused(self) -> bool:
        """Whether optional reads wait for the next month now (never raises)."""
        try:
            reads = await self.month_reads()
        except Exception:
            return False
        if reads.spent:
            return True
        return self.allowance > 0 and reads.used >= self.allowance * OPTIONAL_STOP

    def seconds_to_next_month(self) -> float:
        now = self._now()
        return max((next_month_start(now) - now).total_seconds(), 1.0)

    async def admit(self, realm_id: str, purpose: ReadPurpose) -> None:
        """Let a read go, or raise ReadsWait (it waits for the next month). Redis down: the
        read goes (the budget slot it takes next fails the same way anyway)."""
        try:
            reads = await self.month_reads()
        except Exception:
            logger.warning("the read meter could not be read", exc_info=True)
            return
        wait = self.seconds_to_next_month()
        if reads.spent:
            why = "QBO says this month's reads (CorePlus calls) are used up"
            raise ReadsWait(realm_id, wait, purpose, why)
        if self.allowance <= 0:
            return
        priority = PRIORITIES[purpose]
        stop = self.allowance * STOPS[priority]
        if reads.used >= stop:
            share = round(STOPS[priority] * 100)
            why = (
                f"{reads.used} of this month's {self.allowance} QBO reads are used; "
                f"{purpose.value} reads stop at {share} %"
            )
            raise ReadsWait(realm_id, wait, purpose, why)

    async def spend_month(self) -> None:
        """QBO said the month's reads are used up: no read until the month ends."""
        key = self.month_key(month_of(self._now()), "spent")
        seconds = int(self.seconds_to_next_month()) + 60
        await self._redis.set(key, 1, ex=seconds)

    async def unfolded(self) -> dict[tuple[str, str, CallKind], int]:
        """The counts Redis holds not yet folded into PostgreSQL (month, realm, kind)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(PENDING)
            pipe.hgetall(FOLDING)
            pending, folding = await pipe.execute()
        counts: dict[tuple[str, str, CallKind], int] = {}
        for raw in (pending, folding):
            for key, n in _parse(raw).items():
                counts[key] = counts.get(key, 0) + n
        return counts

    async def take_pending(self) -> Fold | None:
        """The calls counted since the last fold (or those of a fold that did not finish),
        kept aside under one id until `folded` is called with it."""
        answer: Any = await self._take(keys=[PENDING, FOLDING, FOLDING_ID], args=[uuid.uuid4().hex])
        if not answer:
            return None
        fold_id, flat = answer
        counts = _parse(dict(zip(flat[::2], flat[1::2], strict=True)))
        return Fold(fold_id.decode() if isinstance(fold_id, bytes) else str(fold_id), counts)

    async def folded(self, fold: Fold, bases: dict[str, int]) -> None:
        """The fold is in PostgreSQL, which now holds `bases` (month -> reads): forget the
        fold, take its reads off `fresh` and set each month's base, in one step."""
        per_month: dict[str, int] = dict.fromkeys(bases, 0)
        for (month, _, kind), n in fold.counts.items():
            if kind is CallKind.READ:
                per_month[month] = per_month.get(month, 0) + n
        args: list[str | int] = [fold.id, len(per_month)]
        for month, n in per_month.items():
            args += [month, n, bases.get(month, 0)]
        await self._done(keys=[PENDING, FOLDING, FOLDING_ID, READS_PREFIX], args=args)

    async def set_base(self, month: str, reads: int) -> None:
        """What PostgreSQL holds of the month's reads (after each fold)."""
        await self._redis.set(self.month_key(month, "base"), reads, ex=MONTH_KEY_SECONDS)
