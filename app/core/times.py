"""Timestamps as Intuit writes them in records (`MetaData.LastUpdatedTime`), CDC answers
and webhook deliveries, read as aware UTC datetimes. Pure, so that payload builders, the
owned-fields snapshot and webhook parsing can share it without importing the QBO client."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """Intuit's timestamps: `…Z`, `…-0700`, `…-07:00`, with up to nine fractional digits."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        # Python 3.11 reads most as they are (nine fractional digits cut to six); the
        # rewriting below was a third of the time to parse an 8,000-change delivery.
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
        text = re.sub(r"\.(\d{6})\d+", r".\1", text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
