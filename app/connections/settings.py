"""Per-company settings: what each connected company chooses for itself (its accounts, tax
codes, payment methods, classes, names and policies) and the values in effect, its own
else the service's default.

Each company setting has the name of the environment variable that is its default
(`item_income_account_id` <- ITEM_INCOME_ACCOUNT_ID, see app.config): a company that sets
nothing is synced as the whole deployment was before settings existed. A change applies
to events synced after it, never to records already in QBO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.config import DriftPolicy, Settings

# QBO list ids are digits (Intuit's Id is a string of up to 32 digits in every list entity).
RefId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]
# What a caller's payment says in `method` ("card", "ach", "check"): PaymentMethod.Name is
# at most 31 characters in QBO, and the caller's names follow the same limit.
MethodName = Annotated[str, StringConstraints(min_length=1, max_length=31, strip_whitespace=True)]
GlobalTaxCalculation = Literal["TaxExcluded", "TaxInclusive", "NotApplicable"]

DRIFT_POLICY_FIELDS = {
    "customer": "drift_policy_customer",
    "item": "drift_policy_item",
    "invoice": "drift_policy_invoice",
    "payment": "drift_policy_payment",
    "credit_memo": "drift_policy_credit_memo",
    "sales_receipt": "drift_policy_sales_receipt",
    "refund": "drift_policy_refund",
    # The Payment that applies a credit memo follows the payments' policy.
    "applied_credit": "drift_policy_payment",
}


class SettingSource(StrEnum):
    COMPANY = "company"  # set for this company (PUT /connections/{realm_id}/settings)
    DEFAULT = "default"  # the service's default: its environment variable, else built in


class CompanySettings(BaseModel):
    """A company's own settings: the body of `PUT /connections/{realm_id}/settings`. A field
    left out or null takes the service's default; the PUT replaces the whole set."""

    model_config = ConfigDict(extra="forbid")

    item_income_account_id: RefId | None = Field(
        None, description="Income account (AccountType Income) of the items we create."
    )
    item_expense_account_id: RefId | None = Field(
        None,
        description="Expense account (Expense or Cost of Goods Sold) of non-inventory items.",
    )
    item_adopt_existing_by_name: bool | None = Field(
        None,
        description="Whether an item of a name the company already uses (without our marker)"
        " is taken over instead of created under a disambiguated name.",
    )
    tax_code_id: RefId | None = Field(
        None,
        description="Non-US companies: TaxCode of invoice lines that name none. US companies"
        " without automated sales tax: the sales tax code of invoices that name none.",
    )
    default_taxable: bool | None = Field(
        None, description="US companies: whether a line that says nothing is taxable (TAX)."
    )
    global_tax_calculation: GlobalTaxCalculation | None = Field(
        None, description="Non-US companies: whether line amounts exclude or include tax."
    )
    deposit_account_id: RefId | None = Field(
        None,
        description="Account payments are deposited to (Bank or Other Current Asset);"
        " unset: QBO's Undeposited Funds.",
    )
    payment_methods: dict[MethodName, RefId] | None = Field(
        None,
        description="The caller's payment method names (`card`, `ach`, `check`, ...) to the"
        " company's PaymentMethod ids.",
    )
    shipping_item_id: RefId | None = Field(None, description="Item of shipping lines.")
    discount_account_id: RefId | None = Field(
        None, description="Account of discount lines (an Income account, e.g. Discounts given)."
    )
    class_id: RefId | None = Field(None, description="Class of transactions that name none.")
    department_id: RefId | None = Field(
        None, description="Department (location) of transactions that name none."
    )
    display_name_template: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The name of a customer or item whose name QBO already holds;"
        " must contain {external_id}.",
    )
    drift_policy_customer: DriftPolicy | None = None
    drift_policy_item: DriftPolicy | None = None
    drift_policy_invoice: DriftPolicy | None = None
    drift_policy_payment: DriftPolicy | None = None
    drift_policy_credit_memo: DriftPolicy | None = None
    drift_policy_sales_receipt: DriftPolicy | None = None
    drift_policy_refund: DriftPolicy | None = None
    doc_number_ours: bool | None = Field(
        None,
        description="Whether invoices carry the caller's number as DocNumber; unset: as the"
        " company's custom transaction numbers preference (read at connect) says.",
    )
    mismatch_tolerance: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        decimal_places=2,
        description="How far QBO's booked invoice total or tax may be from the caller's"
        " before the synced event carries a mismatch and an invoice.mismatch notice goes.",
    )

    @field_validator("display_name_template")
    @classmethod
    def _has_external_id(cls, value: str | None) -> str | None:
        if value is not None and "{external_id}" not in value:
            raise ValueError("must contain {external_id}")
        return value

    def own(self) -> dict[str, Any]:
        """The values this company set (JSON-ready), without the defaults."""
        return self.model_dump(mode="json", exclude_none=True)


SETTING_NAMES: tuple[str, ...] = tuple(CompanySettings.model_fields)


def defaults(env: Settings) -> dict[str, Any]:
    """The service's default of every company setting: its environment variable's value.
    `doc_number_ours` None means: as the company's preference says."""
    return {name: getattr(env, name) for name in SETTING_NAMES}


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """The values in effect for one company: its own, else the service's default."""

    item_income_account_id: str | None
    item_expense_account_id: str | None
    item_adopt_existing_by_name: bool
    tax_code_id: str | None
    default_taxable: bool
    global_tax_calculation: str
    deposit_account_id: str | None
    payment_methods: Mapping[str, str]
    shipping_item_id: str | None
    discount_account_id: str | None
    class_id: str | None
    department_id: str | None
    display_name_template: str
    drift_policy_customer: str
    drift_policy_item: str
    drift_policy_invoice: str
    drift_policy_payment: str
    drift_policy_credit_memo: str
    drift_policy_sales_receipt: str
    drift_policy_refund: str
    doc_number_ours: bool | None
    mismatch_tolerance: Decimal
    # The env-only fallback of an unset income account: the active one of this name.
    item_income_account_name: str = "Services"
    sources: Mapping[str, SettingSource] = field(default_factory=dict)

    @classmethod
    def of(cls, own: Mapping[str, Any] | None, env: Settings) -> EffectiveSettings:
        """Merge a company's stored settings (`CompanySettings.own()`, or None) over `env`.
        A stored name this version does not know is ignored (it was validated when stored)."""
        values = defaults(env)
        sources = dict.fromkeys(SETTING_NAMES, SettingSource.DEFAULT)
        for name, value in (own or {}).items():
            if name in values and value is not None:
                values[name] = value
                sources[name] = SettingSource.COMPANY
        values["mismatch_tolerance"] = Decimal(str(values["mismatch_tolerance"]))
        values["payment_methods"] = {
            str(k).strip().casefold(): str(v) for k, v in (values["payment_methods"] or {}).items()
        }
        return cls(**values, item_income_account_name=env.item_income_account_name, sources=sources)

    def drift_policy(self, entity_type: str) -> str:
        """`report`, `restore` or `accept` for a change made in QBO to a record of this type."""
        policy: str = getattr(self, DRIFT_POLICY_FIELDS[entity_type])
        return policy

    def payment_method_id(self, method: str) -> str | None:
        """The company's PaymentMethod id of a caller's method name (case-insensitive)."""
        return self.payment_methods.get(method.strip().casefold())
