"""Delivering notices: claim due rows, POST them signed, record every attempt.

One delivery job runs at a time across all workers (a fixed arq job id), in its own worker
slot, so a slow or failing receiver never holds up a sync job. It claims up to `BATCH` due
notices with `FOR UPDATE SKIP LOCKED`, leases them (their `next_attempt_at` moves past the
request timeout, so a killed worker's notices are sent again: at least once), commits, and
sends them concurrently, each within `REQUEST_TIMEOUT` seconds. Each try is recorded in its
own short transaction; the next one is planned from the recorded attempts (exponential
backoff with full jitter) until CALLBACK_MAX_ATTEMPTS, after which the notice is `failed`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from arq.connections import ArqRedis
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.allowed_hosts import TargetPolicy
from app.callbacks.models import Callback, CallbackAttempt, CallbackDelivery, DeliveryStatus
from app.callbacks.service import REMOVED
from app.callbacks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_notice
from app.callbacks.targets import (
    PinnedTransport,
    Resolver,
    TargetRefused,
    check_url,
    refused_by_guard,
    system_resolve,
)
from app.config import Settings
from app.core.backoff import retry_delay
from app.core.cipher import TokenCipher, TokenDecryptError
from app.core.hints import CALLBACK_DELIVERY, clear_dirty, is_dirty
from app.core.metrics import CALLBACK_DELIVERIES, Metrics
from app.db import utcnow
from app.uow import unit_of_work

logger = logging.getLogger(__name__)

BATCH = 10  # notices claimed and sent at once
REQUEST_TIMEOUT = 10.0  # seconds for a whole request: connect, send, answer
LEASE = timedelta(seconds=60)  # a claimed notice is due again after this (its worker died)
RUN_SECONDS = 60.0  # one job run yields its worker slot after this and re-queues itself
USER_AGENT = "qbo-sync-callbacks/1"

_deliveries: Table = CallbackDelivery.__table__  # type: ignore[assignment]
_callbacks: Table = Callback.__table__  # type: ignore[assignment]


def callback_client(
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    policy: TargetPolicy | None = None,
    resolve: Resolver = system_resolve,
) -> httpx.AsyncClient:
    """The HTTP client of deliveries: no redirects followed, no proxy from the environment,
    bounded connections, and (unless a test passes its own `transport`) every connection
    made to an address `app.callbacks.targets` checked at connect time, under `policy`
    (CALLBACK_ALLOWED_HOSTS)."""
    limits = httpx.Limits(max_connections=BATCH * 2, max_keepalive_connections=BATCH)
    return httpx.AsyncClient(
        transport=transport or PinnedTransport(policy or TargetPolicy(), resolve, limits),
        timeout=REQUEST_TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
        limits=limits,
    )


@dataclass
class DeliveryDeps:
    """What delivering needs, built once per worker process."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    http: httpx.AsyncClient
    redis: ArqRedis | None = None
    metrics: Metrics | None = None
    timeout: float = REQUEST_TIMEOUT  # seconds for a whole request


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    source: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    url: str | None
    secret_enc: bytes | None


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    attempted: int
    # Seconds until this job should run again (soon-due retries, or a run cut short).
    again_in: float | None = None


def notice_body(claimed: Claimed) -> bytes:
    """The JSON POSTed: the same bytes on every attempt of one notice."""
    return json.dumps(
        {
            "id": str(claimed.id),
            "kind": claimed.kind,
            "created_at": claimed.created_at.isoformat(),
            "data": claimed.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


async def claim_due(deps: DeliveryDeps, limit: int = BATCH) -> list[Claimed]:
    """Lease up to `limit` due notices no other worker holds, with their callback's URL and
    secret as they are now (None when the callback was removed)."""
    now = utcnow()
    due = (
        select(_deliveries.c.id)
        .where(
            _deliveries.c.status == DeliveryStatus.PENDING,
            _deliveries.c.next_attempt_at <= now,
        )
        .order_by(_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    url = select(_callbacks.c.url).where(_callbacks.c.source == _deliveries.c.source)
    secret = select(_callbacks.c.secret_enc).where(_callbacks.c.source == _deliveries.c.source)
    statement = (
        update(_deliveries)
        .where(_deliveries.c.id.in_(due))
        .values(next_attempt_at=now + LEASE)
        .returning(
            _deliveries.c.id,
            _deliveries.c.source,
            _deliveries.c.kind,
            _deliveries.c.payload,
            _deliveries.c.created_at,
            url.scalar_subquery().label("url"),
            secret.scalar_subquery().label("secret_enc"),
        )
    )
    async with unit_of_work(deps.session_factory) as uow:
        rows = (await uow.session.execute(statement)).all()
    return [
        Claimed(r.id, r.source, r.kind, r.payload, r.created_at, r.url, r.secret_enc) for r in rows
    ]


async def next_due_in(session: AsyncSession) -> float | None:
    """Seconds until the earliest pending notice is due (0 when one is due), None if none."""
    earliest: datetime | None = await session.scalar(
        select(func.min(_deliveries.c.next_attempt_at)).where(
            _deliveries.c.status == DeliveryStatus.PENDING
        )
    )
    if earliest is None:
        return None
    return max((earliest - utcnow()).total_seconds(), 0.0)


async def deliver_due(deps: DeliveryDeps) -> DeliveryRun:
    """Send due notices until none is due (or RUN_SECONDS passed). Safe to run twice at once:
    each notice is claimed by one run."""
    started = time.monotonic()
    attempted = 0
    while True:
        if time.monotonic() - started > RUN_SECONDS:
            return DeliveryRun(attempted, again_in=0.0)
        if deps.redis is not None:
            await _clear_dirty(deps.redis)
        claimed = await claim_due(deps)
        if not claimed:
            if deps.redis is not None and await _is_dirty(deps.redis):
                continue
            break
        await asyncio.gather(*(deliver_one(deps, c) for c in claimed))
        attempted += len(claimed)
    async with deps.session_factory() as session:
        wait = await next_due_in(session)
    # Soon-due retries are this job's; later ones are brought back by the cron.
    soon = wait is not None and wait <= deps.settings.sweep_interval_seconds
    return DeliveryRun(attempted, again_in=wait if soon else None)


async def deliver_one(deps: DeliveryDeps, claimed: Claimed) -> str:
    """POST one notice and record the attempt; returns `delivered`, `retrying` or `failed`."""
    if claimed.url is None or claimed.secret_enc is None:
        await _give_up(deps, claimed.id, REMOVED)
        return DeliveryStatus.FAILED.value
    status_code: int | None
    error: str | None
    try:
        secret = deps.cipher.decrypt(claimed.secret_enc).get_secret_value()
    except TokenDecryptError:
        status_code, error, duration_ms = None, "the callback secret cannot be decrypted", 0
    else:
        status_code, error, duration_ms = await _post(deps, claimed, secret)
    result = await record_attempt(deps, claimed.id, status_code, error, duration_ms)
    if deps.metrics is not None:
        await deps.metrics.incr(CALLBACK_DELIVERIES, {"kind": claimed.kind, "result": result})
    if result != DeliveryStatus.DELIVERED:
        # Neither the URL nor the error text is logged: both are the caller's business.
        logger.warning(
            "callback notice not delivered (%s)",
            result,
            extra={
                "delivery_id": str(claimed.id),
                "source": claimed.source,
                "status_code": status_code,
            },
        )
    return result


async def _post(
    deps: DeliveryDeps, claimed: Claimed, secret: str
) -> tuple[int | None, str | None, int]:
    body = notice_body(claimed)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: str(claimed.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_notice(secret, body, timestamp),
    }
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        # Again at send time: the URL may predate the rules, or CALLBACK_ALLOWED_HOSTS may
        # have changed. The addresses its name resolves to are checked when connecting.
        check_url(claimed.url or "", deps.settings.callback_targets)
        async with asyncio.timeout(deps.timeout):
            # Streamed and never read: the answer's status is all that counts, and a
            # receiver cannot make us hold a large body.
            async with deps.http.stream(
                "POST", claimed.url or "", content=body, headers=headers
            ) as r:
                status_code = r.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TargetRefused as err:
        error = str(err)
    except TimeoutError:
        error = f"no answer within {deps.timeout:g} s"
    except httpx.HTTPError as err:
        error = (refused_by_guard(err) or f"{type(err).__name__}: {err}")[:500]
    except Exception as err:  # a receiver must not break the job
        error = f"{type(err).__name__}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return status_code, error, duration_ms


async def record_attempt(
    deps: DeliveryDeps,
    delivery_id: uuid.UUID,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> str:
    """Store one attempt and what follows from it: delivered on 2xx; otherwise the next try
    after a backoff computed from the recorded attempts, or failed after the last one."""
    settings = deps.settings
    now = utcnow()
    async with unit_of_work(deps.session_factory) as uow:
        delivery = await uow.session.get(
            CallbackDelivery, delivery_id, with_for_update=True, populate_existing=True
        )
        if delivery is None:
            return DeliveryStatus.FAILED.value
        number = delivery.attempts + 1
        uow.session.add(
            CallbackAttempt(
                delivery_id=delivery_id,
                number=number,
                at=now,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        delivery.attempts = number
        delivery.last_status_code = status_code
        delivery.last_error = error
        if error is None:
            # Even when the callback was removed meanwhile: the receiver has it.
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            return DeliveryStatus.DELIVERED.value
        if delivery.status != DeliveryStatus.PENDING:
            return delivery.status
        if number >= settings.callback_max_attempts:
            delivery.status = DeliveryStatus.FAILED
            return DeliveryStatus.FAILED.value
        delay = retry_delay(
            number, settings.callback_retry_base_seconds, settings.callback_retry_cap_seconds
        )
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        return "retrying"


async def _give_up(deps: DeliveryDeps, delivery_id: uuid.UUID, why: str) -> None:
    async with unit_of_work(deps.session_factory) as uow:
        await uow.session.execute(
            update(_deliveries)
            .where(
                _deliveries.c.id == delivery_id,
                _deliveries.c.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.FAILED, last_error=why)
        )


async def has_due(session: AsyncSession) -> bool:
    """Whether any pending notice is due (the cron's cheap test before hinting)."""
    found = await session.scalar(
        select(_deliveries.c.id)
        .where(
            _deliveries.c.status == DeliveryStatus.PENDING,
            _deliveries.c.next_attempt_at <= utcnow(),
        )
        .limit(1)
    )
    return found is not None


# A delivery run outlives Redis trouble: a flag it cannot clear costs one more look, and
# one it cannot read leaves the notice to the cron.
async def _clear_dirty(redis: ArqRedis) -> None:
    try:
        await clear_dirty(redis, CALLBACK_DELIVERY)
    except Exception:
        logger.debug("could not clear the callbacks flag", exc_info=True)


async def _is_dirty(redis: ArqRedis) -> bool:
    try:
        return await is_dirty(redis, CALLBACK_DELIVERY)
    except Exception:
        return False
