"""Intuit's per-realm throttles as sliding windows over the emulator's clock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from app.emulator.config import LimitsConfig


def _trim(window: deque[float], now: float, span: float) -> None:
    while window and window[0] <= now - span:
        window.popleft()


@dataclass
class RealmLimiter:
    """Request history of one realm.

    Only admitted requests are recorded: a throttled call does not push the window
    further, so a client that backs off recovers once the window slides.
    """

    minute: deque[float] = field(default_factory=deque)
    second: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    in_flight: int = 0

    def admit(self, limits: LimitsConfig, now: float, is_batch: bool) -> bool:
        """Record and admit a request at time `now`, or refuse it (False) if over a limit.

        Side effect on admission: the request counts in every window and in flight;
        the caller must call `release()` when the answer has been produced.
        """
        if limits.enabled:
            _trim(self.minute, now, limits.window_seconds)
            _trim(self.second, now, limits.second_window_seconds)
            _trim(self.batches, now, limits.batch_window_seconds)
            if limits.max_in_flight is not None and self.in_flight >= limits.max_in_flight:
                return False
            if (
                limits.requests_per_second is not None
                and len(self.second) >= limits.requests_per_second
            ):
                return False
            if (
                limits.requests_per_window is not None
                and len(self.minute) >= limits.requests_per_window
            ):
                return False
            if (
                is_batch
                and limits.batch_per_window is not None
                and len(self.batches) >= limits.batch_per_window
            ):
                return False
        self.minute.append(now)
        self.second.append(now)
        if is_batch:
            self.batches.append(now)
        self.in_flight += 1
        return True

    def release(self) -> None:
        """The admitted request has been answered (or abandoned)."""
        self.in_flight = max(0, self.in_flight - 1)
