"""A worker that stops making progress ends itself, so that its supervisor starts a new one.

Every cron tick of the heartbeat job (`beat` every 10 s) marks progress. A daemon thread,
outside the event loop, checks that mark: when the loop has been stuck for STALL_SECONDS
(a wait on a connection that died without a word, a pool that never hands out a
connection), the process exits with EXIT_STALLED. Records it held are reclaimed by the
other workers' sweepers, since its locks die with its database connections.
"""

from __future__ import annotations

import logging
import os
import threading
import time

logger = logging.getLogger(__name__)

STALL_SECONDS = 90.0
EXIT_STALLED = 70

_last_progress = time.monotonic()


def progress() -> None:
    """Called by the heartbeat job: the event loop is alive and runs jobs."""
    global _last_progress
    _last_progress = time.monotonic()


def start(stall_seconds: float = STALL_SECONDS) -> threading.Thread:
    """Watch the event loop from a daemon thread; exits the process when it stalls."""
    progress()

    def watch() -> None:
        while True:
            time.sleep(min(5.0, stall_seconds / 3))
            stalled = time.monotonic() - _last_progress
            if stalled > stall_seconds:
                logger.critical("worker made no progress for %.0f s; exiting", stalled)
                logging.shutdown()
                os._exit(EXIT_STALLED)

    thread = threading.Thread(target=watch, name="worker-watchdog", daemon=True)
    thread.start()
    return thread
