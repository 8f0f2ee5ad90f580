"""Exponential backoff with full jitter, and giving up (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.config import Settings
from app.core.backoff import gives_up, retry_delay
from app.qbo import throttle_delay


def test_delays_stay_within_a_doubling_ceiling_up_to_the_cap() -> None:
    rng = random.Random(1)
    for attempts in range(1, 20):
        ceiling = min(3600.0, 5.0 * 2 ** (attempts - 1))
        samples = [retry_delay(attempts, 5.0, 3600.0, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: spread over the whole range, not bunched at the top.
        assert min(samples) < ceiling * 0.1
        assert max(samples) > ceiling * 0.9


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert 0.0 <= retry_delay(10_000, 5.0, 3600.0) <= 3600.0


def test_throttle_waits_for_retry_after_or_a_minute() -> None:
    rng = random.Random(2)
    assert 30.0 <= throttle_delay(30.0, rng) <= 40.0
    assert 60.0 <= throttle_delay(None, rng) <= 70.0


def test_gives_up_after_the_configured_hours() -> None:
    settings = Settings(_env_file=None, retry_give_up_hours=24)
    start = datetime(2026, 11, 25, tzinfo=UTC)
    assert not gives_up(None, start, settings)
    assert not gives_up(start, start + timedelta(hours=23, minutes=59), settings)
    assert gives_up(start, start + timedelta(hours=24), settings)
