"""JSON as QBO writes it: decimals stay decimals, times carry the company's UTC offset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json;charset=utf-8"
CENT = Decimal("0.01")


class BadJson(ValueError):
    """The request body is not valid JSON (QBO answers with Fault 2010)."""


def loads(raw: bytes | str) -> Any:
    """Parse a request body, reading every non-integer number as Decimal.

    Raises BadJson when the body is not JSON.
    """
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJson(str(exc)) from exc


def dumps(value: Any) -> str:
    """Serialise to compact JSON, writing Decimal as a bare number (`100.00`, not `"100.00"`).

    The standard encoder cannot emit a Decimal without going through float, which would
    turn `100.00` into `100.0`; QBO clients are expected to parse amounts as decimals.
    """
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, bool) or value is None:
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif isinstance(value, int | float | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class QboJSONResponse(Response):
    """A JSON response rendered with `dumps`, typed as QBO types it."""

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def to_decimal(value: Any) -> Decimal | None:
    """Read a JSON number (or numeric string) as Decimal; None when it is not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Decimal) -> Decimal:
    """An amount as QBO prints it: two decimals (`100.00`), zero as plain `0`."""
    if value == 0:
        return Decimal(0)
    return value.quantize(CENT)


def plain_number(value: Decimal) -> Decimal:
    """A quantity or rate without trailing zeros (`75`, `4.5`), as QBO prints them."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return normal.quantize(Decimal(1))
    return normal


def company_tz(offset_minutes: int) -> timezone:
    """The fixed-offset zone companies report their times in."""
    return timezone(timedelta(minutes=offset_minutes))


def meta_time(moment: datetime, tz: timezone) -> str:
    """A MetaData timestamp: seconds precision with offset (`2020-09-29T05:58:16-07:00`)."""
    return moment.astimezone(tz).isoformat(timespec="seconds")


def response_time(moment: datetime, tz: timezone) -> str:
    """The `time` of an answer: milliseconds with offset (`2020-09-29T05:58:16.187-07:00`)."""
    return moment.astimezone(tz).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime | None:
    """Parse a QBO date or date-time literal; naive values are taken as UTC. None if invalid."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
