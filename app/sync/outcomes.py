"""Step 2's verdict: what a write's result or failure means for its event, as one of five
outcomes (done, retry later, dead, no connection, deferred), and the metric counting them.

A failure's outcome is a lookup of its `category` and `retryable` (`kind_of`); the failures
and what each means are drawn as one tree in app.core.failures."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from app.connections.refresh import mark_needs_reauth
from app.core.failures import Category, QboUnreachable, SyncFailure
from app.core.hints import hint_deliveries
from app.core.metrics import SYNC_OUTCOMES
from app.qbo import throttle_delay
from app.sync.deps import SyncDeps
from app.sync.work import Applied, Work

# The engine's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.engine")


class OutcomeKind(StrEnum):
    """The five outcomes, named as the sync outcome metric counts them."""

    SYNCED = "synced"
    RETRYING = "retrying"
    DEAD = "dead"
    WAITING_CONNECTION = "waiting_connection"
    DEFERRED = "deferred"


@dataclass(frozen=True, slots=True)
class Done:
    applied: Applied


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: dict[str, Any]
    throttled: bool
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Dead:
    reason: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoConnection:
    reason: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deferred:
    """The realm's QBO budget is spent (or paused): nothing was sent; try after `delay`.
    Not `realm_wide`: only this event needed what is spent (the month's reads), the
    realm's other events go on."""

    delay: float
    realm_wide: bool = True


Outcome = Done | RetryLater | Dead | NoConnection | Deferred
_KINDS: dict[type[Outcome], OutcomeKind] = {
    Done: OutcomeKind.SYNCED,
    RetryLater: OutcomeKind.RETRYING,
    Dead: OutcomeKind.DEAD,
    NoConnection: OutcomeKind.WAITING_CONNECTION,
    Deferred: OutcomeKind.DEFERRED,
}


# What a failure's category means for its event. Any other category: retrying when the
# failure is retryable, else dead (app.core.failures draws the whole tree).
KIND_OF_CATEGORY = {
    Category.BUDGET: OutcomeKind.DEFERRED,
    Category.READS: OutcomeKind.DEFERRED,
    Category.CONNECTION: OutcomeKind.WAITING_CONNECTION,
}


def kind_of(failure: SyncFailure) -> OutcomeKind:
    """The outcome a failure leads to: a lookup of its `category` and `retryable`."""
    kind = KIND_OF_CATEGORY.get(failure.category)
    if kind is not None:
        return kind
    return OutcomeKind.RETRYING if failure.retryable else OutcomeKind.DEAD


def kind_of_outcome(outcome: Outcome) -> OutcomeKind:
    return _KINDS[type(outcome)]


async def outcome_of_error(
    deps: SyncDeps, err: BaseException, work: Work, realm_id: str
) -> Outcome:
    """What a failed write means for its event. Exceptions outside the tree of sync
    failures (app.core.failures) propagate. A connection QBO refused is marked as needing
    re-authorisation on the way."""
    failure = failure_of(err)
    kind = kind_of(failure)
    failure.log_warning(logger, log_extra(work, realm_id))
    if kind is OutcomeKind.DEFERRED:
        realm_wide = failure.category is not Category.READS
        return Deferred(failure.retry_after or 0.0, realm_wide)
    reason = failure.reason()
    if work.target is None and work.operation == "upserted" and failure.maybe_written:
        reason["ambiguous"] = True
    if kind is OutcomeKind.WAITING_CONNECTION:
        if failure.needs_reauth:
            tid = reason.get("intuit_tid")
            await mark_needs_reauth(deps.keeper, realm_id, reason["message"], tid)
            if deps.redis is not None:  # the connection.needs_reauth notices
                await hint_deliveries(deps.redis)
        return NoConnection(reason)
    if kind is OutcomeKind.DEAD:
        return Dead(reason)
    if failure.category is Category.THROTTLED:
        return RetryLater(reason, throttled=True, delay=throttle_delay(failure.retry_after))
    return RetryLater(reason, throttled=False)


async def count_outcome(deps: SyncDeps, outcome: Outcome) -> None:
    """Count the outcome in the sync outcome metric, by kind and reason's category."""
    if deps.metrics is None:
        return
    reason = getattr(outcome, "reason", None) or {}
    category = str(reason.get("category") or "none")
    labels = {"result": kind_of_outcome(outcome).value, "category": category}
    await deps.metrics.incr(SYNC_OUTCOMES, labels)


def failure_reason(category: str, message: str) -> dict[str, Any]:
    return {"category": category, "code": None, "message": message}


def log_extra(work: Work, realm_id: str) -> dict[str, Any]:
    return {
        "event_id": str(work.event_id),
        "realm_id": realm_id,
        "entity_type": work.entity_type,
        "external_id": work.external_id,
        "attempt": work.attempt,
    }


def failure_of(err: BaseException) -> SyncFailure:
    """`err` as a member of the tree; raises `err` itself when it is none (a bug)."""
    if isinstance(err, SyncFailure):
        return err
    if isinstance(err, httpx.HTTPError | OSError):
        return QboUnreachable(err)
    raise err
