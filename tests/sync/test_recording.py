"""When a failed event is tried again, or given up (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.config import Settings
from app.sync.outcomes import RetryLater
from app.sync.recording import retry_in

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
REASON = {"category": "transient", "code": None, "message": "x"}


def _settings() -> Settings:
    return Settings(
        _env_file=None,
        retry_base_seconds=5.0,
        retry_cap_seconds=60.0,
        retry_give_up_hours=24.0,
    )


def test_a_throttled_call_waits_its_pause_however_long_it_has_failed() -> None:
    outcome = RetryLater(REASON, throttled=True, delay=42.0)
    assert retry_in(outcome, 9, NOW - timedelta(days=3), NOW, _settings()) == 42.0


def test_a_failed_attempt_backs_off_within_its_doubling_ceiling() -> None:
    outcome = RetryLater(REASON, throttled=False)
    for attempts, ceiling in ((1, 5.0), (2, 10.0), (3, 20.0), (10, 60.0)):
        delay = retry_in(outcome, attempts, NOW - timedelta(minutes=5), NOW, _settings())
        assert delay is not None
        assert 0.0 <= delay <= ceiling


def test_failures_lasting_past_the_give_up_time_end_the_retries() -> None:
    outcome = RetryLater(REASON, throttled=False)
    assert retry_in(outcome, 30, NOW - timedelta(hours=24), NOW, _settings()) is None
    assert retry_in(outcome, 30, NOW - timedelta(hours=23), NOW, _settings()) is not None
