"""A company's reference lists (accounts, tax codes, payment methods, classes, departments,
terms) as QBO holds them, read through the realm's budget and cached in `reference_lists`.

QBO's list queries answer active records only unless the query names `Active` ("SELECT *
FROM Customer retrieves all active customers": Intuit, developer.intuit.com/hub/blog/2017/
02/08/deep-dive-sql-queries; ../shared/qbo-facts.md, "search `Active IN (true,false)`"),
so every list is read with `WHERE Active IN (true, false)`: a setting that names an
inactive record is told so, not "unknown". Long lists are read in pages of 1000
(STARTPOSITION / MAXRESULTS, QBO's largest page).

The cache is shared by every process: a list is read from QBO at most once per
REFERENCE_CACHE_SECONDS, unless a caller asks for a fresh read (`refresh`), or validation
misses an id in a list older than a few seconds (an account made a moment ago).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import ReferenceList
from app.db import utcnow

PAGE_SIZE = 1000
# A list younger than this is not read again for an id it lacks (see `find_row`).
RECHECK_AFTER = timedelta(seconds=5)


class ReferenceKind(StrEnum):
    ACCOUNTS = "accounts"
    TAX_CODES = "tax_codes"
    PAYMENT_METHODS = "payment_methods"
    CLASSES = "classes"
    DEPARTMENTS = "departments"
    TERMS = "terms"


ENTITIES: dict[ReferenceKind, str] = {
    ReferenceKind.ACCOUNTS: "Account",
    ReferenceKind.TAX_CODES: "TaxCode",
    ReferenceKind.PAYMENT_METHODS: "PaymentMethod",
    ReferenceKind.CLASSES: "Class",
    ReferenceKind.DEPARTMENTS: "Department",
    ReferenceKind.TERMS: "Term",
}

# Runs one query statement against the realm and answers its rows (QboClient.query, with
# a valid token and the realm's budget). Raises what the client raises.
Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class ReferenceRows:
    """One list of one company, as cached: `rows` are JSON-ready dicts (see `shape`)."""

    kind: ReferenceKind
    rows: list[dict[str, Any]]
    fetched_at: datetime
    cached: bool  # served from the cache, QBO not asked

    def active(self, **where: Any) -> list[dict[str, Any]]:
        return [
            r for r in self.rows if r["active"] and all(r.get(k) == v for k, v in where.items())
        ]

    def by_id(self, qbo_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["id"] == qbo_id), None)


def list_statement(entity: str, start: int) -> str:
    """The query of one page of a list, inactive records included."""
    # `entity` is one of our constants and `start` a number: nothing of a caller's.
    where = "WHERE Active IN (true, false)"
    return f"SELECT * FROM {entity} {where} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"  # noqa: S608


async def query_all(query: Query, entity: str) -> list[dict[str, Any]]:
    """Every record of `entity` (a constant of ours, never caller input), page by page."""
    rows: list[dict[str, Any]] = []
    start = 1
    while True:
        page = await query(list_statement(entity, start))
        rows.extend(page)
        if len(page) < PAGE_SIZE:
            return rows
        start += PAGE_SIZE


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("value")
    return str(value) if value not in (None, "") else None


def _active(record: Mapping[str, Any]) -> bool:
    # US TaxCodes (TAX, NON) carry no Active element: they are always usable.
    value = record.get("Active", True)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _name(record: Mapping[str, Any]) -> str:
    return str(record.get("FullyQualifiedName") or record.get("Name") or record.get("Id"))


def _rate(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return None


def _due_days(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def shape(
    kind: ReferenceKind, record: Mapping[str, Any], rates: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A QBO record as a row of its list: id, name, active, type, and the kind's extras.
    `rates` are the company's TaxRates by id (tax codes only)."""
    row: dict[str, Any] = {
        "id": str(record.get("Id")),
        "name": _name(record),
        "active": _active(record),
        "type": None,
    }
    if kind is ReferenceKind.ACCOUNTS:
        row["type"] = record.get("AccountType")
        row["sub_type"] = record.get("AccountSubType")
        row["classification"] = record.get("Classification")
    elif kind in (ReferenceKind.PAYMENT_METHODS, ReferenceKind.TERMS):
        row["type"] = record.get("Type")
    if kind is ReferenceKind.TERMS:
        row["due_days"] = _due_days(record.get("DueDays"))
    if kind is ReferenceKind.TAX_CODES:
        row["rates"] = []
        rate_list = record.get("SalesTaxRateList")
        details = rate_list.get("TaxRateDetail", []) if isinstance(rate_list, Mapping) else []
        for detail in details if isinstance(details, list) else []:
            rate_id = _ref(detail.get("TaxRateRef")) if isinstance(detail, Mapping) else None
            if rate_id is None:
                continue
            found = rates.get(rate_id, {})
            name = found.get("Name") or (detail.get("TaxRateRef") or {}).get("name")
            row["rates"].append(
                {"id": rate_id, "name": name, "rate": _rate(found.get("RateValue"))}
            )
    return row


async def fetch_list(query: Query, kind: ReferenceKind) -> list[dict[str, Any]]:
    """Read one list from QBO (tax codes with their TaxRates), shaped, in QBO's order."""
    records = await query_all(query, ENTITIES[kind])
    rates: dict[str, dict[str, Any]] = {}
    if kind is ReferenceKind.TAX_CODES and any(r.get("SalesTaxRateList") for r in records):
        rates = {str(r.get("Id")): r for r in await query_all(query, "TaxRate")}
    return [shape(kind, r, rates) for r in records]


async def cached_list(
    session: AsyncSession, realm_id: str, kind: ReferenceKind
) -> ReferenceRows | None:
    row = await session.scalar(
        select(ReferenceList).where(ReferenceList.realm_id == realm_id, ReferenceList.kind == kind)
    )
    if row is None:
        return None
    return ReferenceRows(kind, list(row.rows), row.fetched_at, cached=True)


async def store_list(
    session: AsyncSession, realm_id: str, kind: ReferenceKind, rows: list[dict[str, Any]]
) -> ReferenceRows:
    """Keep a freshly read list (the newest read wins)."""
    now = utcnow()
    statement = pg_insert(ReferenceList).values(
        realm_id=realm_id, kind=kind.value, rows=rows, fetched_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ReferenceList.realm_id, ReferenceList.kind],
            set_={"rows": statement.excluded.rows, "fetched_at": statement.excluded.fetched_at},
        )
    )
    await session.commit()
    return ReferenceRows(kind, rows, now, cached=False)


async def reference_list(
    session: AsyncSession,
    query: Query,
    realm_id: str,
    kind: ReferenceKind,
    max_age_seconds: float,
    *,
    refresh: bool = False,
) -> ReferenceRows:
    """The company's list of `kind`: the cached one while younger than `max_age_seconds`,
    else (or with `refresh`) read from QBO and cached. `session` must be free to commit
    (the cache row is written at once, so that other processes see it).

    Raises what `query` raises (QboError, BudgetWait, ConnectionUnavailable, ...)."""
    if not refresh:
        cached = await cached_list(session, realm_id, kind)
        if cached is not None and utcnow() - cached.fetched_at < timedelta(seconds=max_age_seconds):
            return cached
    # No transaction stays open while QBO answers.
    await session.commit()
    rows = await fetch_list(query, kind)
    return await store_list(session, realm_id, kind, rows)


async def find_row(
    session: AsyncSession,
    query: Query,
    realm_id: str,
    kind: ReferenceKind,
    qbo_id: str,
    max_age_seconds: float,
    lists: dict[ReferenceKind, ReferenceRows],
) -> tuple[dict[str, Any] | None, ReferenceRows]:
    """The row of `qbo_id` in the company's list (None: QBO has no such record) and the
    list it was looked up in. A cached list older than RECHECK_AFTER that lacks the id is
    read again once. `lists` keeps the lists of one validation, so each is read once."""
    current = lists.get(kind)
    if current is None:
        current = await reference_list(session, query, realm_id, kind, max_age_seconds)
        lists[kind] = current
    found = current.by_id(qbo_id)
    if found is None and current.cached and utcnow() - current.fetched_at >= RECHECK_AFTER:
        current = await reference_list(
            session, query, realm_id, kind, max_age_seconds, refresh=True
        )
        lists[kind] = current
        found = current.by_id(qbo_id)
    return found, current
