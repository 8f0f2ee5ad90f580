"""One request budget per realm, shared by every worker process and machine, in Redis.

Intuit allows each company 500 requests in any 60 s, 10 in any 1 s, 10 in flight, and 40
batch calls in any 60 s. One Lua script checks and records all four in a single atomic
round trip, on Redis' own clock (so workers' clocks do not matter):

- `qbo:budget:{realm}:minute`, `:second`, `:batch`: sorted sets of grant times (sliding
  windows, exactly "any 60 s", not fixed buckets);
- `:flight`: sorted set of leases scored by their expiry, so a worker killed mid-call leaks
  its slot only until the lease expires;
- `:pause`: a time before which nobody may call (set after a 429, for every worker).

A refused request is told how long to wait; nothing is recorded for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from app.config import Settings
from app.core.failures import Category, SyncFailure

logger = logging.getLogger(__name__)

PREFIX = "qbo:budget"

ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute, second, flight, batch, pause = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local per_minute, per_second, in_flight = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_batch, is_batch = tonumber(ARGV[4]), ARGV[5] == '1'
local lease, lease_ms = ARGV[6], tonumber(ARGV[7])
local paused = tonumber(redis.call('GET', pause) or '0')
if paused > now then return {paused - now, now} end
local minute_ms, second_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
-- A single call that yields to batch calls leaves them room in both windows.
if not is_batch and ARGV[10] == '1' then
  per_minute = per_minute - per_batch
  per_second = per_second - 1
end
redis.call('ZREMRANGEBYSCORE', minute, '-inf', now - minute_ms)
redis.call('ZREMRANGEBYSCORE', second, '-inf', now - second_ms)
redis.call('ZREMRANGEBYSCORE', batch, '-inf', now - minute_ms)
redis.call('ZREMRANGEBYSCORE', flight, '-inf', now)
local wait = 0
local function oldest(key, span)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(first[2]) + span - now
end
if redis.call('ZCARD', minute) >= per_minute then
  wait = math.max(wait, oldest(minute, minute_ms))
end
if redis.call('ZCARD', second) >= per_second then
  wait = math.max(wait, oldest(second, second_ms))
end
if is_batch and redis.call('ZCARD', batch) >= per_batch then
  wait = math.max(wait, oldest(batch, minute_ms))
end
if redis.call('ZCARD', flight) >= in_flight then wait = math.max(wait, 20) end
if wait > 0 then return {wait, now} end
redis.call('ZADD', minute, now, lease)
redis.call('ZADD', second, now, lease)
redis.call('ZADD', flight, now + lease_ms, lease)
if is_batch then redis.call('ZADD', batch, now, lease) end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], minute_ms + 1000 + lease_ms) end
return {0, now}
"""

PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untl = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > current then redis.call('SET', KEYS[1], untl, 'PX', tonumber(ARGV[1])) end
return math.max(untl, current) - now
"""

STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local paused = tonumber(redis.call('GET', KEYS[5]) or '0')
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3]), math.max(paused - now, 0)}
"""


# Set by a realm's pump while its batch lane has work: single calls then leave one slot per
# second and `batches_per_minute` slots per minute to batch calls, which carry up to 30
# records each. A callable, so that the lanes see the batch lane's current state.
YIELD_TO_BATCHES: ContextVar[Callable[[], bool] | None] = ContextVar(
    "yield_to_batches", default=None
)


def _yields() -> bool:
    check = YIELD_TO_BATCHES.get()
    return check is not None and check()


# The longest a caller keeps taking turns for short waits before it gives up its work.
MAX_QUEUEING = 30.0


class BudgetWait(SyncFailure):
    """The realm has no budget for longer than a caller should sleep: come back later."""

    category = Category.BUDGET
    retryable = True

    def __init__(self, realm_id: str, seconds: float) -> None:
        super().__init__(f"realm {realm_id}: no QBO budget for {seconds:.1f} s")
        self.realm_id = realm_id
        self.seconds = seconds

    @property
    def retry_after(self) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class Limits:
    per_minute: int = 495
    per_second: int = 10
    in_flight: int = 9
    batches_per_minute: int = 38
    # A call that takes longer than this frees its in-flight slot anyway (QBO's own timeout is
    # 120 s; ours is 30 s per try).
    lease_seconds: float = 120.0
    # Our windows are longer than Intuit's: a request reaches QBO some milliseconds after its
    # slot is granted, and not always the same number of them (a busy event loop, a new
    # connection). Counting over 1.1 s and 60.5 s keeps every 1 s and 60 s window at Intuit
    # within limits as long as that delay varies by less than 100 ms.
    second_window_ms: int = 1100
    minute_window_ms: int = 60_500

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_minute=settings.qbo_limit_per_minute,
            per_second=settings.qbo_limit_per_second,
            in_flight=settings.qbo_limit_in_flight,
            batches_per_minute=settings.qbo_limit_batches_per_minute,
        )


@dataclass(frozen=True, slots=True)
class BudgetState:
    used_last_minute: int
    in_flight: int
    paused_for: float


class RealmBudget:
    """The limiter. `slot()` around every QBO API call; `pause()` after a 429."""

    def __init__(self, redis: Redis, limits: Limits, *, max_sleep: float = 5.0) -> None:
        self._redis = redis
        self.limits = limits
        self.max_sleep = max_sleep
        self._acquire = redis.register_script(ACQUIRE)
        self._pause = redis.register_script(PAUSE)
        self._state = redis.register_script(STATE)

    @staticmethod
    def keys(realm_id: str) -> list[str]:
        base = f"{PREFIX}:{{{realm_id}}}"
        return [
            f"{base}:minute",
            f"{base}:second",
            f"{base}:flight",
            f"{base}:batch",
            f"{base}:pause",
        ]

    async def try_acquire(self, realm_id: str, lease: str, *, batch: bool = False) -> float:
        """Take a slot now (returns 0) or learn how many seconds to wait (nothing recorded)."""
        return (await self._try(realm_id, lease, batch))[0]

    async def _try(self, realm_id: str, lease: str, batch: bool) -> tuple[float, float]:
        """(seconds to wait, 0 when granted; Redis' clock in seconds)."""
        limits = self.limits
        answer: Any = await self._acquire(
            keys=self.keys(realm_id),
            args=[
                limits.per_minute,
                limits.per_second,
                limits.in_flight,
                limits.batches_per_minute,
                "1" if batch else "0",
                lease,
                int(limits.lease_seconds * 1000),
                limits.minute_window_ms,
                limits.second_window_ms,
                "1" if not batch and _yields() else "0",
            ],
        )
        wait_ms, now_ms = answer
        return max(int(wait_ms), 0) / 1000, int(now_ms) / 1000

    async def acquire(self, realm_id: str, *, batch: bool = False) -> str:
        """A lease for one call. Sleeps through short waits (each at most `max_sleep`: the
        window frees a slot soon, and callers of the same realm take turns) and raises
        BudgetWait when the realm must wait longer (a pause, a full minute window), or
        after `MAX_QUEUEING` seconds of turns. Release it with `release`."""
        return (await self.acquire_timed(realm_id, batch=batch))[0]

    async def acquire_timed(self, realm_id: str, *, batch: bool = False) -> tuple[str, float]:
        """`acquire`, also returning when the slot was granted on Redis' clock (seconds)."""
        lease = uuid.uuid4().hex
        slept = 0.0
        while True:
            wait, now = await self._try(realm_id, lease, batch)
            if wait <= 0:
                return lease, now
            if wait > self.max_sleep or slept + wait > MAX_QUEUEING:
                raise BudgetWait(realm_id, wait)
            # A little jitter so that sleepers do not all come back in the same millisecond.
            pause = wait + random.uniform(0, 0.02)
            await asyncio.sleep(pause)
            slept += pause

    async def release(self, realm_id: str, lease: str) -> None:
        try:
            await self._redis.zrem(self.keys(realm_id)[2], lease)
        except Exception:
            # The lease expires by itself; a lost release only delays one slot.
            logger.warning("could not release a QBO budget lease", exc_info=True)

    @asynccontextmanager
    async def slot(self, realm_id: str, *, batch: bool = False) -> AsyncIterator[None]:
        lease = await self.acquire(realm_id, batch=batch)
        try:
            yield
        finally:
            await self.release(realm_id, lease)

    async def pause(self, realm_id: str, seconds: float) -> float:
        """Stop every worker calling QBO for this realm for `seconds` (never shortens a
        pause already set). Returns how long the realm is now paused."""
        ms: Any = await self._pause(
            keys=[self.keys(realm_id)[4]], args=[max(int(seconds * 1000), 1)]
        )
        return int(ms) / 1000

    async def state(self, realm_id: str) -> BudgetState:
        """Requests granted in the last minute, calls in flight, seconds of pause left."""
        keys = self.keys(realm_id)
        used, flying, paused = await self._state(keys=keys)
        return BudgetState(int(used), int(flying), int(paused) / 1000)
