"""When to try again, and when to stop: exponential backoff with full jitter, computed from
the attempts recorded in Postgres (sync retries and callback deliveries alike)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from app.config import Settings


def retry_delay(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1 = the first failure):
    uniform in [0, min(cap, base * 2**(attempts-1))] ("full jitter"), so that workers
    retrying together spread out instead of hammering QBO in step."""
    rng = rng or random.SystemRandom()
    exponent = min(max(attempts, 1) - 1, 60)  # 2**60 x base is beyond any cap
    return rng.uniform(0.0, min(cap, base * 2.0**exponent))


def gives_up(failing_since: datetime | None, now: datetime, settings: Settings) -> bool:
    """Whether a run of failures that began at `failing_since` has lasted long enough to
    stop retrying (RETRY_GIVE_UP_HOURS)."""
    if failing_since is None:
        return False
    return now - failing_since >= timedelta(hours=settings.retry_give_up_hours)
