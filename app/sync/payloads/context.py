"""The company a body is built for, and the error a builder raises when it cannot build one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from app.core.failures import Category, SyncFailure

GLOBAL_TAX_CALCULATIONS = frozenset({"TaxExcluded", "TaxInclusive", "NotApplicable"})


# An event's field as messages name it: `terms`, `lines[2].tax_code`, `applied_to[0].amount`.
_FIELD = re.compile(r"[a-z_]+(\[[0-9]+\])?(\.[a-z_]+)?")


def field_pointer(name: str) -> str | None:
    """The JSON pointer of an event's field named as messages name it (`lines[2].class` ->
    `/data/lines/2/class`); None for what is not a field (`the company's settings`)."""
    if not _FIELD.fullmatch(name):
        return None
    return "/data/" + re.sub(r"\[([0-9]+)\]", r"/\1", name).replace(".", "/")


class PayloadError(SyncFailure, ValueError):
    """The event cannot become a body this company accepts (missing reference, tax code or
    currency the company cannot take). Permanent: resending the same event cannot help.

    `field` is the JSON pointer of the event's field at fault (`/data/terms`): as given,
    else the field a message of the form `<field>: ...` names first, else None."""

    category = Category.PERMANENT
    retryable = False

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        named, colon, _ = message.partition(": ")
        self.field = field or (field_pointer(named) if colon else None)


@dataclass(frozen=True, slots=True)
class CompanyContext:
    """What a body depends on besides the event: the company's locale and preferences.

    `default_tax_code_id` is the TaxCode Id used on non-US lines whose event names none
    (from settings or a lookup; QBO's Preferences do not carry one). The rest of what the
    company set for itself (app.connections.settings) that bodies carry: US lines' default
    taxability, the class and department of transactions, the deposit-to account of
    payments; the class and department flags are its Preferences' AccountingInfoPrefs.
    """

    is_us: bool
    custom_txn_numbers: bool = False
    multicurrency: bool = False
    home_currency: str | None = None
    default_tax_code_id: str | None = None
    global_tax_calculation: str = "TaxExcluded"
    default_taxable: bool = False
    class_id: str | None = None
    department_id: str | None = None
    deposit_account_id: str | None = None
    class_per_txn: bool = False
    class_per_line: bool = False
    departments: bool = False
    # Preferences.TaxPrefs: sales tax in use, and automated sales tax (US, PartnerTaxEnabled).
    using_sales_tax: bool = True
    automated_sales_tax: bool = False
    # Preferences.SalesFormsPrefs.AllowDiscount / AllowShipping.
    allow_discount: bool = False
    allow_shipping: bool = False
    # The company's settings: the item of shipping charges where QBO's shipping line is off,
    # and the account of discounts.
    shipping_item_id: str | None = None
    discount_account_id: str | None = None
    # The sales-form custom fields in use: (Name, DefinitionId), from
    # Preferences.SalesFormsPrefs.CustomField.
    custom_fields: tuple[tuple[str, str], ...] = ()

    def custom_field(self, name: str) -> tuple[str, str] | None:
        """(Name, DefinitionId) of the custom field in use named `name` (case-insensitive)."""
        wanted = name.strip().casefold()
        return next((f for f in self.custom_fields if f[0].casefold() == wanted), None)

    @classmethod
    def from_connection_data(
        cls,
        country: str | None,
        company_info: Mapping[str, Any] | None,
        preferences: Mapping[str, Any] | None,
        *,
        default_tax_code_id: str | None = None,
        global_tax_calculation: str = "TaxExcluded",
        default_taxable: bool = False,
        class_id: str | None = None,
        department_id: str | None = None,
        deposit_account_id: str | None = None,
        doc_number_ours: bool | None = None,
        shipping_item_id: str | None = None,
        discount_account_id: str | None = None,
    ) -> CompanyContext:
        """Read a connection's stored CompanyInfo and Preferences (bare or wrapped in
        `{"CompanyInfo": ...}` / `{"Preferences": ...}`).

        `doc_number_ours` None: DocNumber is ours when the company uses custom transaction
        numbers (SalesFormsPrefs.CustomTxnNumbers); True or False overrides that.
        Raises PayloadError when the country is unknown (reconnect to read it) or
        `global_tax_calculation` is not a QBO GlobalTaxCalculation value.
        """
        info = _unwrap(company_info, "CompanyInfo")
        prefs = _unwrap(preferences, "Preferences")
        country = country or info.get("Country")
        if not isinstance(country, str) or not country.strip():
            raise PayloadError("the company's country is unknown; reconnect to read CompanyInfo")
        if global_tax_calculation not in GLOBAL_TAX_CALCULATIONS:
            raise PayloadError(f"unknown GlobalTaxCalculation {global_tax_calculation!r}")
        sales = _unwrap(prefs.get("SalesFormsPrefs"), "")
        currency = _unwrap(prefs.get("CurrencyPrefs"), "")
        accounting = _unwrap(prefs.get("AccountingInfoPrefs"), "")
        tax = _unwrap(prefs.get("TaxPrefs"), "")
        home = _unwrap(currency.get("HomeCurrency"), "").get("value")
        custom_numbers = _flag(sales.get("CustomTxnNumbers"))
        return cls(
            is_us=country.strip().upper() == "US",
            custom_txn_numbers=custom_numbers if doc_number_ours is None else doc_number_ours,
            multicurrency=_flag(currency.get("MultiCurrencyEnabled")),
            home_currency=str(home).upper() if home else None,
            default_tax_code_id=default_tax_code_id,
            global_tax_calculation=global_tax_calculation,
            default_taxable=default_taxable,
            class_id=class_id,
            department_id=department_id,
            deposit_account_id=deposit_account_id,
            class_per_txn=_flag(accounting.get("ClassTrackingPerTxn")),
            class_per_line=_flag(accounting.get("ClassTrackingPerTxnLine")),
            departments=_flag(accounting.get("TrackDepartments")),
            # Preferences stored before they were read count as using sales tax.
            using_sales_tax=_flag(tax.get("UsingSalesTax", True)),
            automated_sales_tax=_flag(tax.get("PartnerTaxEnabled")),
            allow_discount=_flag(sales.get("AllowDiscount")),
            allow_shipping=_flag(sales.get("AllowShipping")),
            shipping_item_id=shipping_item_id,
            discount_account_id=discount_account_id,
            custom_fields=_custom_fields(sales.get("CustomField")),
        )


@dataclass(frozen=True, slots=True)
class NameLists:
    """The company's name-list records a body refers to (Terms, Classes, Departments,
    TaxCodes), as looked up for it: per list, `id:<Id>` and `name:<case-folded Name or
    FullyQualifiedName>` -> Id of each active record; and per TaxCode Id its sales rates
    (TaxRate Id, percent). Lists the event does not need stay empty."""

    terms: Mapping[str, str] = field(default_factory=dict)
    classes: Mapping[str, str] = field(default_factory=dict)
    departments: Mapping[str, str] = field(default_factory=dict)
    tax_codes: Mapping[str, str] = field(default_factory=dict)
    code_rates: Mapping[str, tuple[tuple[str, Decimal], ...]] = field(default_factory=dict)


def name_keys(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The `NameLists` table of query rows (inactive ones left out)."""
    keys: dict[str, str] = {}
    for row in rows:
        if row.get("Active", True) is False or "Id" not in row:
            continue
        qbo_id = str(row["Id"])
        for name in (row.get("FullyQualifiedName"), row.get("Name")):
            if isinstance(name, str) and name.strip():
                keys.setdefault(f"name:{name.strip().casefold()}", qbo_id)
        keys[f"id:{qbo_id}"] = qbo_id
    return keys


def code_rates(
    codes: Sequence[Mapping[str, Any]], rates: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[tuple[str, Decimal], ...]]:
    """Per TaxCode Id, its sales rates as (TaxRate Id, RateValue percent), from TaxCode query
    rows (`SalesTaxRateList.TaxRateDetail[].TaxRateRef`) and TaxRate rows. A code whose
    rates are not all known is left out: its tax is left to QBO."""
    percent: dict[str, Decimal] = {}
    for row in rates:
        try:
            percent[str(row["Id"])] = Decimal(str(row.get("RateValue", 0)))
        except (KeyError, InvalidOperation):
            continue
    out: dict[str, tuple[tuple[str, Decimal], ...]] = {}
    for code in codes:
        if "Id" not in code:
            continue
        rate_list = code.get("SalesTaxRateList")
        details = rate_list.get("TaxRateDetail") if isinstance(rate_list, Mapping) else None
        ids: list[str] = []
        for detail in details if isinstance(details, list) else []:
            ref = detail.get("TaxRateRef") if isinstance(detail, Mapping) else None
            value = ref.get("value") if isinstance(ref, Mapping) else None
            if value is not None:
                ids.append(str(value))
        if all(i in percent for i in ids):
            out[str(code["Id"])] = tuple((i, percent[i]) for i in ids)
    return out


def resolve_name(table: Mapping[str, str], value: str) -> str | None:
    """The Id a caller's value names in a `NameLists` table: an Id first, else a name."""
    value = value.strip()
    return table.get(f"id:{value}") or table.get(f"name:{value.casefold()}")


_CUSTOM_NAME = re.compile(r"^SalesFormsPrefs\.SalesCustomName([0-9]+)$")
_CUSTOM_USE = re.compile(r"^SalesFormsPrefs\.UseSalesCustom([0-9]+)$")


def _custom_fields(value: Any) -> tuple[tuple[str, str], ...]:
    """(Name, DefinitionId) of the sales-form custom fields in use. QBO lists definitions as
    groups of `{Name, Type, BooleanValue|StringValue}`: `SalesFormsPrefs.UseSalesCustom<n>`
    says whether field n is on, `SalesFormsPrefs.SalesCustomName<n>` is its name; n is the
    DefinitionId an invoice's CustomField carries."""
    groups = value if isinstance(value, list) else [value]
    names: dict[str, str] = {}
    used: dict[str, bool] = {}
    for group in groups:
        entries = group.get("CustomField") if isinstance(group, Mapping) else None
        for entry in entries if isinstance(entries, list) else [group]:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("Name"), str):
                continue
            if match := _CUSTOM_NAME.match(entry["Name"]):
                text = entry.get("StringValue")
                if isinstance(text, str) and text.strip():
                    names[match.group(1)] = text.strip()
            elif match := _CUSTOM_USE.match(entry["Name"]):
                used[match.group(1)] = _flag(entry.get("BooleanValue"))
    return tuple((name, number) for number, name in sorted(names.items()) if used.get(number, True))


def _unwrap(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    inner = value.get(key) if key else None
    return inner if isinstance(inner, Mapping) else value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
