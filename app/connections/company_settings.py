"""A company's settings as the API and the console show and change them: each value with
its source, the checks of a new set against the company's own records and country, and
the history of changes.

A change is checked against QBO only for the reference fields it changes (an account, a
tax code, payment methods, a shipping item, a class, a department), through the cached
reference lists (`app.connections.reference`); a set that changes nothing stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections.models import (
    CompanySettingsRow,
    Connection,
    ConnectionStatus,
    SettingsChange,
)
from app.connections.reference import (
    Query,
    ReferenceKind,
    ReferenceRows,
    find_row,
)
from app.connections.settings import (
    SETTING_NAMES,
    CompanySettings,
    EffectiveSettings,
    SettingSource,
)
from app.connections.settings_store import replace_settings, stored_settings
from app.pagination import newest_first


@dataclass(frozen=True, slots=True)
class AccountRule:
    """Which AccountTypes an account setting accepts, and how to name them."""

    kind: ReferenceKind
    types: tuple[str, ...] | None  # None: any type (not an account)
    label: str


# Every setting that names a record of the company, and what that record must be.
# Income account of items: AccountType Income (Item.IncomeAccountRef). Expense account of
# non-inventory items: Expense, Cost of Goods Sold or Other Expense. Deposits: Bank or
# Other Current Asset (Payment.DepositToAccountRef). Discounts: Intuit's XSD describes
# DiscountAccountRef as an "Income account used to track discounts" (Finance.xsd,
# DiscountLineDetail / Term), and QBO's "Discounts given" is of type Income.
REFERENCE_RULES: dict[str, AccountRule] = {
    "item_income_account_id": AccountRule(ReferenceKind.ACCOUNTS, ("Income",), "Income account"),
    "item_expense_account_id": AccountRule(
        ReferenceKind.ACCOUNTS,
        ("Expense", "Cost of Goods Sold", "Other Expense"),
        "Expense, Cost of Goods Sold or Other Expense account",
    ),
    "deposit_account_id": AccountRule(
        ReferenceKind.ACCOUNTS,
        ("Bank", "Other Current Asset"),
        "Bank or Other Current Asset account",
    ),
    "discount_account_id": AccountRule(ReferenceKind.ACCOUNTS, ("Income",), "Income account"),
    "tax_code_id": AccountRule(ReferenceKind.TAX_CODES, None, "tax code"),
    "payment_methods": AccountRule(ReferenceKind.PAYMENT_METHODS, None, "payment method"),
    "class_id": AccountRule(ReferenceKind.CLASSES, None, "class"),
    "department_id": AccountRule(ReferenceKind.DEPARTMENTS, None, "department"),
}
# Items are not a cached list (a company may hold many thousands): the one id is read.
SHIPPING_ITEM = "shipping_item_id"
REFERENCE_FIELDS = frozenset(REFERENCE_RULES) | {SHIPPING_ITEM}
US_ONLY = ("default_taxable",)
NON_US_ONLY = ("tax_code_id", "global_tax_calculation")
# A US company without automated sales tax names the sales tax code of its invoices.
US_WITHOUT_AST = ("tax_code_id",)
# How many of a company's records a refusal lists.
LISTED = 10


@dataclass(frozen=True, slots=True)
class SettingValue:
    value: Any  # in effect
    source: SettingSource
    default: Any  # what the company gets when it sets none


@dataclass(frozen=True, slots=True)
class SettingsView:
    """What GET /connections/{realm_id}/settings answers."""

    values: dict[str, SettingValue]
    version: int
    updated_at: datetime | None
    updated_by: str | None


@dataclass(slots=True)
class SettingsRefused(Exception):
    """A set the company cannot take; nothing was stored. `errors` name each field as the
    API's 422 problems do (`pointer`) and as pydantic does (`loc`)."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: tuple[str, ...], detail: str) -> None:
        self.errors.append(
            {"pointer": "/" + "/".join(path), "loc": ["body", *path], "detail": detail}
        )


class CompanyUnreadable(Exception):
    """The change names records of the company, and the company cannot be read now (not
    connected, or it needs re-authorisation): reconnect it first."""


def company_custom_txn_numbers(connection: Connection | None) -> bool:
    """The company's `SalesFormsPrefs.CustomTxnNumbers` preference, as read at connect
    (the same reading as app.sync.payloads.context)."""
    prefs = (connection.preferences if connection else None) or {}
    inner = prefs.get("Preferences") if isinstance(prefs.get("Preferences"), Mapping) else None
    sales = (inner or prefs).get("SalesFormsPrefs")
    flag = sales.get("CustomTxnNumbers") if isinstance(sales, Mapping) else None
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def automated_sales_tax(connection: Connection) -> bool:
    """Whether the company uses automated sales tax (Preferences.TaxPrefs.PartnerTaxEnabled,
    read at connect)."""
    prefs = connection.preferences or {}
    prefs = prefs.get("Preferences", prefs) if isinstance(prefs, dict) else {}
    tax = prefs.get("TaxPrefs") if isinstance(prefs, dict) else None
    value = tax.get("PartnerTaxEnabled") if isinstance(tax, dict) else None
    return value is True or str(value).lower() == "true"


def is_us(connection: Connection) -> bool | None:
    """Whether the company is a US one (None: its country is unknown)."""
    country = connection.country or (connection.company_info or {}).get("Country")
    return country.strip().upper() == "US" if isinstance(country, str) and country else None


async def settings_view(
    session: AsyncSession, connection: Connection, env: Settings
) -> SettingsView:
    """Every setting of the company with its value in effect and where that comes from;
    `doc_number_ours` left to the default shows the company's preference when the
    environment sets none."""
    row = await session.get(CompanySettingsRow, connection.realm_id, populate_existing=True)
    own = dict(row.values) if row is not None else {}
    effective = EffectiveSettings.of(own, env)
    values: dict[str, SettingValue] = {}
    for name in SETTING_NAMES:
        source = effective.sources[name]
        default = getattr(env, name)
        if name == "doc_number_ours" and default is None:
            default = company_custom_txn_numbers(connection)
        value = own.get(name) if source is SettingSource.COMPANY else default
        values[name] = SettingValue(value, source, default)
    if row is None or row.version == 0:
        return SettingsView(values, 0, None, None)
    return SettingsView(values, row.version, row.updated_at, row.updated_by)


@dataclass(frozen=True, slots=True)
class SettingsChangePlan:
    """A new set compared with the stored one."""

    values: dict[str, Any]  # CompanySettings.own()
    changed: frozenset[str]

    @property
    def references_changed(self) -> frozenset[str]:
        return self.changed & REFERENCE_FIELDS


async def plan_change(
    session: AsyncSession, connection: Connection, body: CompanySettings
) -> SettingsChangePlan:
    """Compare `body` with the stored set, and refuse settings the company's country has no
    use for (raises SettingsRefused)."""
    values = body.own()
    stored = await stored_settings(session, connection.realm_id)
    changed = frozenset(n for n in SETTING_NAMES if stored.values.get(n) != values.get(n))
    refused = SettingsRefused()
    us = is_us(connection)
    if us is not None:
        ast = automated_sales_tax(connection)
        for name in US_ONLY if not us else NON_US_ONLY:
            if values.get(name) is None or (us and not ast and name in US_WITHOUT_AST):
                continue
            where = "outside the US" if not us else "in the US"
            if us and name in US_WITHOUT_AST:
                where = "in the US using automated sales tax (which chooses the tax code)"
            refused.add((name,), f"not a setting of a company {where}; leave it out")
    seen: dict[str, str] = {}
    for method in values.get("payment_methods") or {}:
        # The engine finds a caller's method case-insensitively: two spellings are one.
        first = seen.setdefault(method.casefold(), method)
        if first != method:
            refused.add(("payment_methods", method), f"the same method name as {first!r}")
    if refused.errors:
        raise refused
    return SettingsChangePlan(values, changed)


def _listing(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    rows = sorted(rows, key=lambda r: (len(r["id"]), r["id"]))  # by id, digits as numbers
    shown = ", ".join(f"{r['id']} {r['name']}" for r in rows[:LISTED])
    return shown + (f" and {len(rows) - LISTED} more" if len(rows) > LISTED else "")


def _check_row(
    refused: SettingsRefused,
    path: tuple[str, ...],
    qbo_id: str,
    rule: AccountRule,
    found: dict[str, Any] | None,
    rows: ReferenceRows,
) -> None:
    usable = (
        rows.active()
        if rule.types is None
        else [r for r in rows.active() if r.get("type") in rule.types]
    )
    has = f"the company's active {rule.label}s: {_listing(usable)}"
    if found is None:
        refused.add(path, f"no {rule.label} {qbo_id} in this company; {has}")
    elif not found["active"]:
        refused.add(path, f"{rule.label} {qbo_id} ({found['name']}) is inactive; {has}")
    elif rule.types is not None and found.get("type") not in rule.types:
        refused.add(
            path,
            f"account {qbo_id} ({found['name']}) is of type {found.get('type')}, not an"
            f" {rule.label}; {has}",
        )


async def check_references(
    session: AsyncSession,
    query: Query,
    connection: Connection,
    plan: SettingsChangePlan,
    max_age_seconds: float,
) -> None:
    """Check each changed reference field against the company's records: it must exist, be
    active and be of the right type. Raises SettingsRefused naming every bad field and what
    the company has instead; QBO's failures (QboError, BudgetWait, ConnectionUnavailable,
    RefreshFailed) pass through. `session` must be free to commit (the cache)."""
    realm_id = connection.realm_id
    refused = SettingsRefused()
    lists: dict[ReferenceKind, ReferenceRows] = {}
    for name in sorted(plan.references_changed):
        value = plan.values.get(name)
        if value is None:
            continue  # back to the default: nothing to look up
        if name == SHIPPING_ITEM:
            await _check_item(refused, query, str(value))
            continue
        rule = REFERENCE_RULES[name]
        wanted = (
            [((name, str(k)), str(v)) for k, v in value.items()]
            if isinstance(value, Mapping)
            else [((name,), str(value))]
        )
        for path, qbo_id in wanted:
            found, rows = await find_row(
                session, query, realm_id, rule.kind, qbo_id, max_age_seconds, lists
            )
            _check_row(refused, path, qbo_id, rule, found, rows)
    if refused.errors:
        raise refused


async def _check_item(refused: SettingsRefused, query: Query, qbo_id: str) -> None:
    # Ids are digits (RefId), so the literal needs no escaping.
    statement = f"SELECT * FROM Item WHERE Id = '{qbo_id}' AND Active IN (true, false)"  # noqa: S608
    rows = await query(statement)
    item = rows[0] if rows else None
    if item is None:
        refused.add((SHIPPING_ITEM,), f"no item {qbo_id} in this company")
    elif item.get("Active") is False:
        refused.add((SHIPPING_ITEM,), f"item {qbo_id} ({item.get('Name')}) is inactive")


async def store_change(
    session: AsyncSession, plan: SettingsChangePlan, realm_id: str, changed_by: str
) -> list[SettingsChange]:
    """Store a checked set (row-locked: concurrent changes queue); nothing when it changes
    nothing. Returns the history rows written."""
    if not plan.changed:
        return []
    return await replace_settings(session, realm_id, plan.values, changed_by)


async def change_settings(
    session: AsyncSession,
    store_session: AsyncSession,
    query: Query,
    connection: Connection,
    body: CompanySettings,
    changed_by: str,
    max_age_seconds: float,
) -> list[SettingsChange]:
    """Check `body` (the company's whole new set) and store it: the country's checks, then,
    when it changes records of the company, those records in QBO (`query`, through the
    cached lists on `session`, which must be free to commit); then the set, on
    `store_session` (the caller's unit of work), with a history row per changed setting.
    Returns those rows (none: nothing changed, nothing stored).

    Raises SettingsRefused (nothing stored), CompanyUnreadable (a change of records while
    the company cannot be read), and QBO's failures (QboError, BudgetWait,
    ConnectionUnavailable, RefreshFailed)."""
    plan = await plan_change(session, connection, body)
    if plan.references_changed:
        if connection.status != ConnectionStatus.ACTIVE:
            state = connection.status.value.replace("_", " ")
            raise CompanyUnreadable(
                f"company {connection.realm_id} is {state}: its records cannot be checked;"
                " reconnect it (POST /connections) before changing accounts, tax codes,"
                " payment methods, items, classes or departments"
            )
        await check_references(session, query, connection, plan, max_age_seconds)
    return await store_change(store_session, plan, connection.realm_id, changed_by)


async def settings_history(
    session: AsyncSession, realm_id: str, limit: int, cursor: str | None
) -> tuple[list[SettingsChange], str | None]:
    """The company's changes newest first, a page after `cursor`, and the next page's
    cursor. Raises ValueError for a bad cursor."""
    query = select(SettingsChange).where(SettingsChange.realm_id == realm_id)
    return await newest_first(
        session, query, SettingsChange.changed_at, SettingsChange.id, limit, cursor
    )
