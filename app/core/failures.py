"""Why a write to QBO did not happen: one tree of failures, each saying what it means.

Every exception the sync engine turns into an event's outcome derives from `SyncFailure`,
which carries `category` (what kind of failure, stored in the event's reason) and
`retryable` (whether trying again later can help). Both are class attributes, except on
`QboError`, where the Fault decides them per instance. The engine's outcome is a lookup
of the two (app.sync.outcomes), never a chain of `isinstance` checks:

    SyncFailure                            category        retryable   outcome
    ├── BudgetWait   (app.qbo.limiter)     budget          yes         deferred: nothing sent
    │   └── ReadsWait (app.qbo.meter)      reads           yes         deferred: this event only
    ├── QboError     (app.qbo.errors)      per Fault:                  per category:
    │                                      throttled       yes         retrying after a pause
    │                                      transient, auth, stale      retrying (backoff)
    │                                      connection      no          waiting_connection
    │                                      duplicate_name, not_found,
    │                                      permanent       no          dead
    ├── QboUnreachable (here)              transient       yes         retrying (backoff)
    ├── RefreshFailed  (app.connections.refresh)
    │                                      transient       yes         retrying (backoff)
    ├── ConnectionUnavailable (app.connections.refresh)
    │                                      connection      no          waiting_connection
    └── PayloadError (app.sync.payloads)   permanent       no          dead

Exceptions from outside the tree that mean "QBO could not be reached" (`httpx.HTTPError`,
`OSError`) become a `QboUnreachable` at one translation point
(`app.sync.outcomes.failure_of`); any other exception is a bug and propagates.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """What kind of failure: what the engine does about it, and what an event's reason says."""

    THROTTLED = "throttled"  # 429 / 3001: pause the realm, retry; not a failed attempt
    TRANSIENT = "transient"  # 5xx, SystemFault, lost answers: back off and retry
    AUTH = "auth"  # 401 / 3200 / 100: refresh the token once and retry
    CONNECTION = "connection"  # 120 / 3100, or no active connection: wait for a reconnect
    STALE = "stale"  # 5010: re-read the record, re-apply our fields, retry (bounded)
    DUPLICATE_NAME = "duplicate_name"  # 6240: adopt or disambiguate, by policy
    NOT_FOUND = "not_found"  # 610: a referenced record is gone or inactive in QBO
    PERMANENT = "permanent"  # validation and business rules: dead, with the reason
    BUDGET = "budget"  # the realm's QBO budget is spent: nothing was sent; not an attempt
    # The month's QBO reads are spent (or kept for reads that matter more): nothing was
    # sent; not an attempt; only what needs a read waits, writes go on.
    READS = "reads"


# The categories of QBO Faults worth another try.
RETRYABLE = frozenset({Category.THROTTLED, Category.TRANSIENT, Category.AUTH, Category.STALE})


class SyncFailure(Exception):
    """A write that did not happen (or may have: `maybe_written`), and what it means.

    Subclasses set `category` and `retryable`; the properties below have the defaults of
    every failure but QBO's own answers."""

    category: Category
    retryable: bool

    @property
    def maybe_written(self) -> bool:
        """Whether QBO may have applied the write anyway (its answer was lost)."""
        return False

    @property
    def needs_reauth(self) -> bool:
        """Whether QBO refused the connection itself: it must be re-authorised."""
        return False

    @property
    def retry_after(self) -> float | None:
        """Seconds to pause before the next call, when the failure says so."""
        return None

    def reason(self) -> dict[str, Any]:
        """What the event stores as its last error."""
        return {"category": self.category.value, "code": None, "message": str(self)}

    def log_warning(self, logger: logging.Logger, extra: dict[str, Any]) -> None:
        """Log what on-call should see of this failure (by default, nothing: its event's
        reason says it all)."""


class QboUnreachable(SyncFailure):
    """QBO could not be reached (a network error outside the QBO client's own handling)."""

    category = Category.TRANSIENT
    retryable = True

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"QBO unreachable ({type(cause).__name__})")
        self.cause = cause

    def log_warning(self, logger: logging.Logger, extra: dict[str, Any]) -> None:
        logger.warning("QBO unreachable", exc_info=self.cause, extra=extra)
