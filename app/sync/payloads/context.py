"""The company a body is built for, and the error a builder raises when it cannot build one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.failures import Category, SyncFailure

GLOBAL_TAX_CALCULATIONS = frozenset({"TaxExcluded", "TaxInclusive", "NotApplicable"})


class PayloadError(SyncFailure, ValueError):
    """The event cannot become a body this company accepts (missing reference, tax code or
    currency the company cannot take). Permanent: resending the same event cannot help."""

    category = Category.PERMANENT
    retryable = False


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
        )


def _unwrap(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    inner = value.get(key) if key else None
    return inner if isinstance(inner, Mapping) else value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
