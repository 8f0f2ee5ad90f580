"""JSON-lines logging for every process.

A database error is never logged as its `str()`: SQLAlchemy's holds the whole statement and
every bound parameter (callers' names, e-mails, whole payloads: lines of megabytes), and the
driver's adds the row's values (`DETAIL: Key (...)=(...)`). Wherever one reaches a log record,
as an argument or as the record's exception (our handlers, uvicorn's, arq's), the formatter
writes `describe_error` instead: the class, the SQLSTATE, PostgreSQL's primary message with
quoted values cut out, and the statement's first characters.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeGuard

# Context fields a log call may pass in `extra=` and that are worth keeping.
CONTEXT_FIELDS = (
    "event_id",
    "realm_id",
    "entity_type",
    "external_id",
    "attempt",
    "intuit_tid",
    "job",
)
# How much of a failed statement is logged: enough to tell which one it was.
SQL_SHAPE_CHARS = 160
# How much of the database's own message is logged.
DB_MESSAGE_CHARS = 300
# No message is longer than this (a line stays a few KB, whatever a caller passed in).
MAX_MESSAGE_CHARS = 4000
APP_DIR = str(Path(__file__).resolve().parent)
# Values PostgreSQL and asyncpg quote in their messages ('abc', : "abc").
QUOTED_VALUE = re.compile(r"'(?:[^']|'')*'")
QUOTED_INPUT = re.compile(r'(:\s*)"[^"]*"')


def is_database_error(exc: BaseException) -> bool:
    """An exception of SQLAlchemy or of the driver (asyncpg), whose text may hold data."""
    return type(exc).__module__.split(".", 1)[0] in ("sqlalchemy", "asyncpg")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more)"


def _db_message(exc: BaseException) -> str:
    """The primary message only: no DETAIL (row values), no parameters, quoted values cut."""
    message = getattr(exc, "message", None)  # asyncpg's own errors
    if not isinstance(message, str):
        message = str(exc.args[0]) if exc.args else ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = QUOTED_INPUT.sub(r'\1"…"', QUOTED_VALUE.sub("'…'", first))
    return _cut(first, DB_MESSAGE_CHARS)


def describe_error(exc: BaseException) -> str:
    """One safe line for a database error: `DBAPIError (RaiseError, SQLSTATE P0001): message
    [SQL: INSERT INTO events (id, ...]`. Other exceptions: `Class: text`."""
    name = type(exc).__name__
    if not is_database_error(exc):
        return f"{name}: {exc}"
    statement = getattr(exc, "statement", None)
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    # The driver's exception behind SQLAlchemy's adapter carries the class worth naming.
    driver = source.__cause__ if is_database_error(source) and source.__cause__ else source
    sqlstate = getattr(source, "sqlstate", None) or getattr(driver, "sqlstate", None)
    label = [type(driver).__name__] if driver is not exc else []
    if sqlstate:
        label.append(f"SQLSTATE {sqlstate}")
    text = f"{name} ({', '.join(label)})" if label else name
    text += f": {_db_message(source)}"
    if isinstance(statement, str):
        shape = " ".join(statement.split())
        text += f" [SQL: {_cut(shape, SQL_SHAPE_CHARS)}]"
    return text


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during, newest first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return seen


def _package(path: Path) -> str:
    """`sqlalchemy` for .../site-packages/sqlalchemy/..., `asyncio` for the standard library's
    asyncio/tasks.py, `contextlib` for contextlib.py."""
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part == "site-packages":
            return parts[i + 1].removesuffix(".py")
    parent = path.parent.name
    return path.stem if parent.startswith("python") or not parent else parent


def _frames(tb: TracebackType | None) -> list[str]:
    """The traceback's frames in the service's code in full; runs of library frames as one
    line naming their packages."""
    out: list[str] = []
    skipped: list[str] = []

    def flush() -> None:
        if skipped:
            packages = ", ".join(dict.fromkeys(skipped))
            out.append(f"  [{len(skipped)} frames in {packages}]\n")
            skipped.clear()

    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith(APP_DIR):
            flush()
            out.extend(traceback.format_list([frame]))
        else:
            skipped.append(_package(Path(frame.filename)))
    flush()
    return out


def format_exception(exc: BaseException) -> str:
    """A traceback as Python prints it, except when a database error is in the chain: then
    frames of the service's code, and each exception as `describe_error` says."""
    chain = _chain(exc)
    if not any(is_database_error(e) for e in chain):
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    lines = ["Traceback (most recent call last):\n", *_frames(exc.__traceback__)]
    lines.append(describe_error(exc) + "\n")
    for cause in chain[1:]:
        lines.append(f"  raised from {type(cause).__module__}.{type(cause).__name__}\n")
    return "".join(lines).rstrip()


def _safe_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(describe_error(a) if _unsafe(a) else a for a in args)
    if isinstance(args, Mapping):
        return {k: describe_error(v) if _unsafe(v) else v for k, v in args.items()}
    return args


def _unsafe(value: object) -> TypeGuard[BaseException]:
    return isinstance(value, BaseException) and is_database_error(value)


def message_of(record: logging.LogRecord) -> str:
    """The record's message, database errors in its arguments described safely, cut to
    MAX_MESSAGE_CHARS."""
    msg: object = record.msg
    if _unsafe(msg):
        msg = describe_error(msg)
    args = _safe_args(record.args)
    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError, KeyError):
        text = record.getMessage()
    return _cut(text, MAX_MESSAGE_CHARS)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message_of(record),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["exc"] = format_exception(record.exc_info[1])
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would print every request line; uvicorn's own error log stays.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
