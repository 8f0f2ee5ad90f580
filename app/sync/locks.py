"""The engine's PostgreSQL advisory locks.

- Entity locks (session level, 64-bit keys): one worker works on one record at a time;
  a killed worker's locks die with its connection. `claim` and `release` take and drop them.
- Dependency locks (transaction level, in the second key space `DEPENDENCY_LOCK_CLASS`):
  a record's job takes its own while it records a final outcome and releases its waiters,
  and a dependent takes its parent's before it decides to wait, so either the dependent
  sees the parent's mapping, or the parent's job sees the dependent waiting. No lost wake-up.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.keys import EntityKey
from app.events.models import Event

# The engine's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.engine")


# Second key space of pg_advisory_xact_lock(int, int): "someone may be releasing waiters".
DEPENDENCY_LOCK_CLASS = 0x5153  # "QS"


def _digest(key: EntityKey) -> bytes:
    return hashlib.sha256(f"{key.realm_id}/{key.entity_type}/{key.external_id}".encode()).digest()


def lock_id(key: EntityKey) -> int:
    """The entity's advisory lock key (signed 64 bits)."""
    return int.from_bytes(_digest(key)[:8], "big", signed=True)


def _parent_lock(key: EntityKey) -> int:
    """The entity's key in the dependency lock space (signed 32 bits)."""
    return int.from_bytes(_digest(key)[:4], "big", signed=True)


async def claim(conn: AsyncConnection, keys: list[EntityKey]) -> list[EntityKey]:
    """Take the session-level lock of each record that no other worker holds; returns
    those taken. They stay held on `conn` until `release`, or until it is closed."""
    taken = [
        key for key in keys if await conn.scalar(select(func.pg_try_advisory_lock(lock_id(key))))
    ]
    await conn.commit()
    return taken


async def release(conn: AsyncConnection, keys: list[EntityKey]) -> None:
    """Drop the records' locks taken by `claim` (on failure, the connection instead)."""
    try:
        await conn.rollback()
        for key in keys:
            await conn.scalar(select(func.pg_advisory_unlock(lock_id(key))))
        await conn.commit()
    except Exception:
        # The locks die with the session: drop the connection instead of pooling it.
        logger.warning("could not release entity locks; closing their connection", exc_info=True)
        await conn.invalidate()


async def lock_as_parent(session: AsyncSession, event: Event) -> None:
    """Take the dependency lock of the event's record, until the transaction ends."""
    await lock_as_parent_of(
        session, EntityKey(event.realm_id, event.entity_type, event.external_id)
    )


async def lock_as_parent_of(session: AsyncSession, key: EntityKey) -> None:
    """Take the record's dependency lock, until the transaction ends."""
    await session.execute(
        select(func.pg_advisory_xact_lock(DEPENDENCY_LOCK_CLASS, _parent_lock(key)))
    )
