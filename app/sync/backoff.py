"""When to try again: exponential backoff with full jitter, from the attempts in Postgres."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from app.config import Settings
from app.qbo.client import THROTTLE_JITTER, THROTTLE_PAUSE


def retry_delay(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1 = the first failure):
    uniform in [0, min(cap, base * 2**(attempts-1))] ("full jitter"), so that workers
    retrying together spread out instead of hammering QBO in step."""
    rng = rng or random.SystemRandom()
    exponent = min(max(attempts, 1) - 1, 60)  # 2**60 x base is beyond any cap
    return rng.uniform(0.0, min(cap, base * 2.0**exponent))


def throttle_delay(retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to pause after a 429: `Retry-After` when QBO sent one, else a minute, plus
    up to 10 s of jitter so that paused jobs do not all return in the same second."""
    rng = rng or random.SystemRandom()
    pause = retry_after if retry_after is not None else THROTTLE_PAUSE
    return pause + rng.uniform(0.0, THROTTLE_JITTER)


def gives_up(failing_since: datetime | None, now: datetime, settings: Settings) -> bool:
    """Whether a run of failures that began at `failing_since` has lasted long enough to
    stop retrying (RETRY_GIVE_UP_HOURS)."""
    if failing_since is None:
        return False
    return now - failing_since >= timedelta(hours=settings.retry_give_up_hours)
