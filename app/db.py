"""Database plumbing: declarative base, engine and session factories, bulk inserts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    MetaData,
    String,
    Table,
    TextClause,
    any_,
    bindparam,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    return datetime.now(UTC)


class BulkInsert:
    """`INSERT ... SELECT ... FROM unnest(one array per column) ON CONFLICT DO NOTHING`.

    Any number of rows goes in one statement of one bound parameter per column: asyncpg
    refuses a statement of more than 32,767 parameters, which a VALUES list of 13-16 columns
    reaches at 2,000-2,500 rows. Columns in `same` take one value for every row. Rows are
    inserted in the order given (`WITH ORDINALITY`), so callers that sort them by the unique
    key take its locks in the same order in every concurrent statement, and two statements
    sharing keys cannot deadlock.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        conflict: Sequence[str],
        returning: Sequence[str],
        same: Sequence[str] = (),
    ) -> None:
        self.columns = tuple(c for c in columns if c not in same)
        self.same = tuple(same)
        self.json_columns = frozenset(c for c in columns if isinstance(table.c[c].type, JSON))
        arrays, picked = [], []
        for name in columns:
            kind = table.c[name].type
            # Text, not VARCHAR(n): a cast to VARCHAR(n) would cut a long value silently,
            # where the INSERT refuses it. JSON travels as text and is cast per row.
            if isinstance(kind, String | JSON):
                element = "TEXT"
            else:
                element = kind.compile(dialect=PGDialect())  # type: ignore[no-untyped-call]
            value = f"CAST(:{name} AS {element})" if name in same else f"r.{name}"
            if name not in same:
                arrays.append(f"CAST(:{name} AS {element}[])")
            picked.append(f"{value}::JSONB" if name in self.json_columns else value)
        # Names of our own tables and columns only; every value is a bound parameter.
        self.statement: TextClause = text(
            f"INSERT INTO {table.name} ({', '.join(columns)})"  # noqa: S608
            f" SELECT {', '.join(picked)}"
            f" FROM unnest({', '.join(arrays)}) WITH ORDINALITY"
            f" AS r({', '.join(self.columns)}, bulk_position)"
            " ORDER BY r.bulk_position"
            f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
            f" RETURNING {', '.join(returning)}"
        )

    def parameters(
        self, rows: Iterable[Mapping[str, Any]], same: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One list per column, in row order, and the values of `same` (JSON values
        serialised, None kept as NULL)."""
        listed = list(rows)
        values: dict[str, Any] = {name: self._value(name, (same or {})[name]) for name in self.same}
        for name in self.columns:
            values[name] = [self._value(name, row[name]) for row in listed]
        return values

    def _value(self, name: str, value: Any) -> Any:
        if name in self.json_columns and value is not None:
            return json.dumps(value)
        return value


# Lists of values travel as one array parameter each, never as a list of parameters: a
# statement's text, and so its prepared statement, is then the same for any number of
# values. asyncpg prepares every statement and keeps it per connection (SQLAlchemy's cache,
# 100-150 per connection, about 10 KB each); an `IN ($1, ..., $n)` per length of list would
# fill every pooled connection's cache with copies of one query, and refuse 32,768 values.


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column = ANY(:values)`, the array form of `column IN (...)`."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type), unique=True))


def rows_of(
    name: str, columns: Mapping[str, TypeEngine[Any]], rows: Iterable[Sequence[Any]]
) -> TableValuedAlias:
    """`unnest(:first, :second, ...) AS name(columns)`: the rows given, as a table to join,
    the array form of `(a, b) IN ((...), ...)` and of a list of ranges."""
    listed = list(rows)
    arrays = [
        bindparam(None, [row[i] for row in listed], type_=ARRAY(kind), unique=True)
        for i, kind in enumerate(columns.values())
    ]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name)


def to_async_url(url: str) -> str:
    """Accept the usual `postgresql://` form and point SQLAlchemy at asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def to_libpq_url(url: str) -> str:
    """The plain `postgresql://` form (asyncpg and libpq refuse SQLAlchemy's `+asyncpg`)."""
    return "postgresql://" + to_async_url(url)[len("postgresql+asyncpg://") :]


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database of the same server (the query, e.g. ?host=, stays)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # Connections are handed out in turn (first in, first out): every pooled connection
        # prepares the statements it runs (SQLAlchemy's asyncpg cache, about 10 KB each)
        # within the first minutes of load, and memory stays level after that. Handed out
        # last-in-first-out, the rarely used ones kept filling their caches for hours.
        pool_use_lifo=False,
        # An error's text names the statement, never its values (callers' data; see app.logs).
        hide_parameters=True,
        # No statement of ours runs for a minute; one that does waits on a dead server.
        connect_args={"command_timeout": 60},
    )
    event.listen(engine.sync_engine, "checkout", _ping)
    return engine


def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection is checked before use, as `pool_pre_ping` does, in one round
    trip: the asyncpg dialect's own ping wraps its empty statement in a transaction (three
    round trips, for PgBouncer's transaction mode, which this service does not use). A dead
    connection makes the pool open a new one (SQLAlchemy's "pessimistic disconnect
    handling": https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic)."""
    try:
        dbapi_connection.run_async(lambda connection: connection.fetchrow(";"))
    except Exception as error:
        raise DisconnectionError() from error


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
