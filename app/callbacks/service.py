"""Callbacks: registering them, queuing notices in the caller's transaction, listing deliveries.

The other domains call `enqueue_notice` / `enqueue_notice_to_all` inside the transaction that
changes the state a notice reports, so a notice is never lost and never sent for a change
that was rolled back. A queued notice tells the session's unit of work (`UnitOfWork.of`,
app.uow), which wakes delivery after commit; the delivery cron picks up anything whose hint
was lost. Sending is `app.callbacks.delivery`'s job, never theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Table, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.callbacks.models import (
    Callback,
    CallbackAttempt,
    CallbackDelivery,
    DeliveryStatus,
    NoticeKind,
)
from app.core.cipher import TokenCipher
from app.db import one_of, utcnow
from app.events.models import Event, EventStatus
from app.pagination import newest_first
from app.uow import UnitOfWork

# `session.info` key: notices this session queued, so the caller knows whether to hint.
KINDS = frozenset(k.value for k in NoticeKind)
REMOVED = "callback removed"

_callbacks: Table = Callback.__table__  # type: ignore[assignment]
_deliveries: Table = CallbackDelivery.__table__  # type: ignore[assignment]
_COLUMNS = [
    "id",
    "source",
    "kind",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
]


# -- queuing notices (called inside other domains' transactions) --------------------------


def _insert_for(where: ColumnElement[bool] | None, kind: str, data: dict[str, Any]) -> Any:
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    now = utcnow()
    rows = select(
        func.gen_random_uuid(),
        _callbacks.c.source,
        literal(kind),
        literal(data, JSONB),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, _deliveries.c.created_at.type),
        literal(now, _deliveries.c.created_at.type),
    )
    if where is not None:
        rows = rows.where(where)
    return insert(_deliveries).from_select(_COLUMNS, rows)


async def _enqueue(session: AsyncSession, statement: Any) -> None:
    result = await session.execute(statement)
    uow = UnitOfWork.of(session)
    if uow is not None and int(getattr(result, "rowcount", 0) or 0) > 0:
        uow.notice()  # wake delivery after commit; outside one, the delivery cron finds it


async def enqueue_notice(
    session: AsyncSession, source: str, kind: str, data: dict[str, Any]
) -> None:
    """Queue a notice of `kind` for `source`, if it has a callback: one INSERT ... SELECT in
    the caller's transaction (nothing is inserted when it has none).

    `data` must be JSON-ready. Raises ValueError for an unknown kind.
    """
    await _enqueue(session, _insert_for(_callbacks.c.source == source, kind, data))


async def enqueue_notice_to_all(session: AsyncSession, kind: str, data: dict[str, Any]) -> None:
    """Queue a notice of `kind` for every registered callback, in the caller's transaction."""
    await _enqueue(session, _insert_for(None, kind, data))


def event_notice_data(event: Event) -> dict[str, Any]:
    """What `event.synced` and `event.dead` notices carry about the event."""
    data: dict[str, Any] = {
        "id": str(event.id),
        "event_id": event.event_id,
        "realm_id": event.realm_id,
        "type": event.type,
        "external_id": event.external_id,
        "status": event.status,
        "qbo_id": event.qbo_id,
        "attempts": event.attempts,
    }
    if event.status == EventStatus.DEAD:
        error = event.last_error or {}
        data["last_error"] = {
            k: error.get(k) for k in ("category", "code", "message", "intuit_tid")
        }
    return data


async def notify_event(session: AsyncSession, event: Event) -> None:
    """Queue `event.synced` or `event.dead` for the event's source (other states: nothing),
    and `invoice.mismatch` after `event.synced` when QBO booked other totals than the
    caller's."""
    kinds = {
        EventStatus.SYNCED.value: NoticeKind.EVENT_SYNCED,
        EventStatus.DEAD.value: NoticeKind.EVENT_DEAD,
    }
    kind = kinds.get(event.status)
    if kind is not None:
        await enqueue_notice(session, event.source, kind.value, event_notice_data(event))
    if event.status == EventStatus.SYNCED and event.mismatch is not None:
        mismatch = {**event_notice_data(event), "mismatch": event.mismatch}
        await enqueue_notice(session, event.source, NoticeKind.INVOICE_MISMATCH.value, mismatch)


# -- the callback of a source --------------------------------------------------------------


async def set_callback(
    session: AsyncSession, source: str, url: str, secret: SecretStr, cipher: TokenCipher
) -> Callback:
    """Create or replace `source`'s callback (the secret is stored encrypted). Pending
    notices go to the new URL, signed with the new secret."""
    now = utcnow()
    statement = pg_insert(_callbacks).values(
        source=source, url=url, secret_enc=cipher.encrypt(secret), created_at=now, updated_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={
                "url": statement.excluded.url,
                "secret_enc": statement.excluded.secret_enc,
                "updated_at": now,
            },
        )
    )
    callback = await session.get(Callback, source, populate_existing=True)
    assert callback is not None
    return callback


async def get_callback(session: AsyncSession, source: str) -> Callback | None:
    return await session.get(Callback, source)


async def remove_callback(session: AsyncSession, source: str) -> bool:
    """Delete `source`'s callback; its pending notices become failed ("callback removed").
    Returns False when it had none."""
    deleted = await session.execute(
        _callbacks.delete().where(_callbacks.c.source == source).returning(_callbacks.c.source)
    )
    if deleted.first() is None:
        return False
    await session.execute(
        update(_deliveries)
        .where(
            _deliveries.c.source == source,
            _deliveries.c.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, last_error=REMOVED)
    )
    return True


async def rotate_callback_secrets(session: AsyncSession, cipher: TokenCipher) -> int:
    """Re-encrypt every callback secret the newest TOKEN_ENCRYPTION_KEYS key cannot read yet
    (row locks held until the caller commits); returns how many changed. Raises
    TokenDecryptError when no configured key can read one."""
    changed = 0
    for callback in await session.scalars(select(Callback).with_for_update()):
        if not cipher.is_current(callback.secret_enc):
            callback.secret_enc = cipher.rotate(callback.secret_enc)
            changed += 1
    return changed


# -- deliveries, as the caller sees them ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    source: str
    status: str | None = None
    kind: str | None = None


async def list_deliveries(
    session: AsyncSession, filters: DeliveryFilter, limit: int, cursor: str | None = None
) -> tuple[list[tuple[CallbackDelivery, list[CallbackAttempt]]], str | None]:
    """A source's deliveries newest first, each with its attempts in order, and the cursor of
    the next page. Raises ValueError for a cursor this API did not issue."""
    query = select(CallbackDelivery).where(CallbackDelivery.source == filters.source)
    if filters.status is not None:
        query = query.where(CallbackDelivery.status == filters.status)
    if filters.kind is not None:
        query = query.where(CallbackDelivery.kind == filters.kind)
    rows, next_cursor = await newest_first(
        session, query, CallbackDelivery.created_at, CallbackDelivery.id, limit, cursor
    )
    attempts: dict[uuid.UUID, list[CallbackAttempt]] = {r.id: [] for r in rows}
    if rows:
        found = await session.scalars(
            select(CallbackAttempt)
            .where(one_of(CallbackAttempt.delivery_id, attempts))
            .order_by(CallbackAttempt.delivery_id, CallbackAttempt.number)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [(r, attempts[r.id]) for r in rows], next_cursor
