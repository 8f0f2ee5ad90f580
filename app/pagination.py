"""Keyset pagination cursors: an opaque token for (time, id), newest first."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


def encode_cursor(when: datetime, ident: uuid.UUID) -> str:
    raw = f"{when.isoformat()}|{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError for anything that is not a cursor this API issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, ident = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("cursor time lacks a zone")
        return when, uuid.UUID(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as err:
        raise ValueError("not a valid cursor") from err


async def newest_first(
    session: AsyncSession,
    query: Select[T],
    when: InstrumentedAttribute[datetime],
    ident: InstrumentedAttribute[uuid.UUID],
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """One page of `query`'s rows, newest first by (`when`, `ident`), after `cursor`; and
    the cursor of the next page (None at the end). Raises ValueError for a bad cursor."""
    if cursor:
        after, after_id = decode_cursor(cursor)
        query = query.where(tuple_(when, ident) < tuple_(after, after_id))
    query = query.order_by(when.desc(), ident.desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, when.key), getattr(last, ident.key))
