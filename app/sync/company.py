"""What bodies of one company need besides the event: its locale and preferences (stored
at connect time), its income account for new items and its default tax code."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from app.connections.models import Connection
from app.connections.settings import EffectiveSettings
from app.events.schemas import InvoiceData, SalesFormData
from app.sync.payloads import (
    CompanyContext,
    NameLists,
    PayloadError,
    code_rates,
    name_keys,
    resolve_name,
)

# Accounts and tax codes change rarely; a worker looks them up again after this long.
CACHE_SECONDS = 600.0
# The name lists an event may name a record of by Id or name.
NAME_LISTS = frozenset({"Term", "Class", "Department", "PaymentMethod", "TaxCode", "TaxRate"})
PAGE = 1000


class CompanyReader(Protocol):
    """What the lookups read a company's QBO through: the worker's `RealmApi`, or the API's
    reader within the realm's budget (app.sync.preview)."""

    @property
    def realm_id(self) -> str: ...

    async def query(self, statement: str) -> list[dict[str, Any]]: ...


def company_context(connection: Connection, settings: EffectiveSettings) -> CompanyContext:
    """The CompanyContext of a connection under the company's settings in effect. Raises
    PayloadError when its country is unknown."""
    return CompanyContext.from_connection_data(
        connection.country,
        connection.company_info,
        connection.preferences,
        default_tax_code_id=settings.tax_code_id,
        global_tax_calculation=settings.global_tax_calculation,
        default_taxable=settings.default_taxable,
        class_id=settings.class_id,
        department_id=settings.department_id,
        deposit_account_id=settings.deposit_account_id,
        doc_number_ours=settings.doc_number_ours,
        shipping_item_id=settings.shipping_item_id,
        discount_account_id=settings.discount_account_id,
    )


@dataclass(slots=True)
class _Entry:
    value: dict[str, str] | str | None
    at: float
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CompanyLookups:
    """Per-process cache of the lookups below, per realm: what a company's settings leave
    to a lookup (an income account by name, a default tax code, payment methods, terms,
    classes and departments by name)."""

    _cache: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    def _get(self, realm_id: str, what: str) -> _Entry | None:
        entry = self._cache.get((realm_id, what))
        if entry is None or time.monotonic() - entry.at > CACHE_SECONDS:
            return None
        return entry

    def forget(self, realm_id: str) -> None:
        for key in [k for k in self._cache if k[0] == realm_id]:
            del self._cache[key]

    async def income_account(
        self, api: CompanyReader, settings: EffectiveSettings
    ) -> dict[str, str]:
        """`{"value": id[, "name": name]}` of the income account for new items: the
        company's `item_income_account_id`, else the active income account named
        ITEM_INCOME_ACCOUNT_NAME, else the company's first active income account.
        Raises PayloadError when the company has none."""
        if settings.item_income_account_id:
            return {"value": settings.item_income_account_id}
        wanted = settings.item_income_account_name.casefold()
        cached = self._get(api.realm_id, f"income:{wanted}")
        if cached is not None and isinstance(cached.value, dict):
            return cached.value
        rows = await api.query("SELECT * FROM Account WHERE AccountType = 'Income'")
        named = [r for r in rows if str(r.get("Name", "")).casefold() == wanted]
        candidates = named or rows
        if not candidates:
            raise PayloadError("the company has no income account for items")
        chosen = candidates[0]
        ref = {"value": str(chosen["Id"]), "name": str(chosen.get("Name", ""))}
        self._cache[(api.realm_id, f"income:{wanted}")] = _Entry(ref, time.monotonic())
        return ref

    async def default_tax_code(self, api: CompanyReader, settings: EffectiveSettings) -> str | None:
        """The company's `tax_code_id`, else the Id of its first active taxable TaxCode
        (non-US lines that name none), or None when it has none."""
        if settings.tax_code_id:
            return settings.tax_code_id
        cached = self._get(api.realm_id, "tax")
        if cached is not None:
            return cached.value if isinstance(cached.value, str) else None
        rows = await api.query("SELECT * FROM TaxCode WHERE Active = true")
        taxable = [r for r in rows if r.get("Taxable") is True]
        candidates = taxable or rows
        value = str(candidates[0]["Id"]) if candidates else None
        self._cache[(api.realm_id, "tax")] = _Entry(value, time.monotonic())
        return value

    async def payment_method(
        self, api: CompanyReader, settings: EffectiveSettings, method: str
    ) -> str | None:
        """The PaymentMethod Id of a caller's method name: the company's `payment_methods`
        map, else its active PaymentMethod of that name (case-insensitive), else None."""
        mapped = settings.payment_method_id(method)
        if mapped is not None:
            return mapped
        name = f"name:{method.strip().casefold()}"
        methods = await self.name_list(api, "PaymentMethod")
        return methods.get(name)

    async def name_list(
        self, api: CompanyReader, entity: str, wanted: Iterable[str] = ()
    ) -> dict[str, str]:
        """The company's active `entity` records (NAME_LISTS) as a `NameLists`
        table (`id:<Id>` and `name:<case-folded name>` -> Id), looked up once per
        CACHE_SECONDS, and again at once when a cached table lacks one of `wanted` (a
        record the accountant has just added)."""
        table = (await self._list(api, entity, wanted)).value
        assert isinstance(table, dict)
        return table

    async def list_rows(
        self, api: CompanyReader, entity: str, wanted: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """The rows of the company's `entity` records, cached as `name_list` is."""
        return (await self._list(api, entity, wanted)).rows

    async def _list(self, api: CompanyReader, entity: str, wanted: Iterable[str]) -> _Entry:
        if entity not in NAME_LISTS:
            raise ValueError(f"no name list {entity!r}")
        cached = self._get(api.realm_id, f"list:{entity}")
        if cached is not None and isinstance(cached.value, dict):
            table = cached.value
            if all(resolve_name(table, value) is not None for value in wanted):
                return cached
        rows: list[dict[str, Any]] = []
        while True:  # in pages: QBO answers 100 rows unless told, 1000 at most
            # `entity` is one of NAME_LISTS and the rest numbers: nothing of a caller's.
            start = len(rows) + 1
            page = await api.query(
                f"SELECT * FROM {entity} STARTPOSITION {start} MAXRESULTS {PAGE}"  # noqa: S608
            )
            rows += page
            if len(page) < PAGE:
                break
        fresh = _Entry(name_keys(rows), time.monotonic(), rows)
        self._cache[(api.realm_id, f"list:{entity}")] = fresh
        return fresh

    async def invoice_names(
        self, api: CompanyReader, data: SalesFormData, ctx: CompanyContext
    ) -> NameLists:
        """The lists a sales form's terms (an invoice's), class, department and tax codes
        are resolved in; only those it names are looked up. Tax codes are looked up where
        it names one by name (or, in the US, names one at all), and with their rates where
        a non-US form carries the caller's tax."""
        classes = [c for c in (data.class_, *(line.class_ for line in data.lines)) if c]
        terms = data.terms if isinstance(data, InvoiceData) else None
        # US lines say TAX or NON; the invoice's own code is one of the company's.
        codes = [line.tax_code for line in data.lines if line.tax_code and not ctx.is_us]
        if data.shipping is not None and data.shipping.tax_code and not ctx.is_us:
            codes.append(data.shipping.tax_code)
        if data.tax_code:
            codes.append(data.tax_code)
        with_rates = not ctx.is_us and data.tax_total is not None
        tax_codes: dict[str, str] = {}
        rates: dict[str, tuple[tuple[str, Decimal], ...]] = {}
        if with_rates or any(not c.isdigit() for c in codes):
            listed = await self._list(api, "TaxCode", codes)
            assert isinstance(listed.value, dict)
            tax_codes = listed.value
            if with_rates:
                rates = code_rates(listed.rows, await self.list_rows(api, "TaxRate"))
        return NameLists(
            tax_codes=tax_codes,
            code_rates=rates,
            terms=await self.name_list(api, "Term", [terms]) if terms else {},
            classes=await self.name_list(api, "Class", classes) if classes else {},
            departments=(
                await self.name_list(api, "Department", [data.department])
                if data.department
                else {}
            ),
        )
