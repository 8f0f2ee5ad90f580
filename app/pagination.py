"""Keyset pagination cursors: an opaque token for (time, id), newest first."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime


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
