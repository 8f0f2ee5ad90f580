"""A clock that tests and scripts can move forward."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time plus a manual offset.

    With `frozen=True` time only moves through `advance()`, which makes sliding-window
    and token-expiry tests deterministic.
    """

    def __init__(self, *, frozen: bool = False, start: datetime | None = None) -> None:
        self._frozen = frozen
        self._start = start or datetime.now(UTC)
        self._mono_start = time.monotonic()
        self._offset = 0.0

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        return self._start + timedelta(seconds=self.elapsed())

    def elapsed(self) -> float:
        """Seconds since the clock was created, including manual advances."""
        real = 0.0 if self._frozen else time.monotonic() - self._mono_start
        return real + self._offset

    def timestamp(self) -> float:
        """Current time as POSIX seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by `seconds` (must be >= 0); returns the new time.

        Raises ValueError for a negative amount: time never runs backwards here.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self.now()
