"""Create bodies of Customer, Item, Invoice and Payment, built from validated event data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.events.schemas import Address, CustomerData, InvoiceData, ItemData, PaymentData
from app.sync.payloads.context import CompanyContext, PayloadError
from app.sync.payloads.ownership import OWNED, Written
from app.sync.payloads.text import NAME_MAX, clean_name, fit, marker

Json = dict[str, Any]
US_TAX_CODES = frozenset({"TAX", "NON"})
ITEM_TYPES = {"service": "Service", "non_inventory": "NonInventory"}

OWNED_FIELDS: dict[str, frozenset[str]] = {
    entity_type: frozenset(f.name for f in fields if f.written is Written.UPDATE)
    for entity_type, fields in OWNED.items()
}
"""Top-level fields each builder may write on an update, per entity type.

The stale-SyncToken (5010) path re-applies only these onto the re-read record, so edits
an accountant made to any other field survive. `CurrencyRef` is absent on purpose: it is
written on create only (see `CREATE_ONLY_FIELDS`).
"""


def _ref(value: str) -> Json:
    return {"value": value}


def _currency(currency: str | None, ctx: CompanyContext) -> Json | None:
    """CurrencyRef to send, or None to let QBO use the home currency.

    Raises PayloadError for a foreign currency in a company without multicurrency.
    """
    if currency is None:
        return None
    if ctx.multicurrency:
        return _ref(currency)
    if ctx.home_currency is not None and currency != ctx.home_currency:
        raise PayloadError(
            f"currency {currency} differs from the home currency {ctx.home_currency} "
            "and the company does not use multicurrency"
        )
    return None


def _address(address: Address) -> Json:
    fields = (
        ("Line1", address.line1, 500),
        ("Line2", address.line2, 500),
        ("City", address.city, 255),
        ("CountrySubDivisionCode", address.region, 255),
        ("PostalCode", address.postal_code, 30),
        ("Country", address.country, 255),
    )
    return {key: fit(value, limit) for key, value, limit in fields if value is not None}


def customer_body(data: CustomerData, ctx: CompanyContext) -> Json:
    """The Customer create body: names, contact, billing address, marker in `Notes`,
    `Active`, and `CurrencyRef` when the company uses multicurrency.

    DisplayName, GivenName and FamilyName are cleaned (`clean_name`). Fields absent from
    the event are omitted, so a sparse update leaves QBO's value in place.
    Raises PayloadError for a currency the company cannot take.
    """
    body: Json = {"DisplayName": clean_name(data.display_name)}
    if data.given_name is not None:
        body["GivenName"] = clean_name(data.given_name, NAME_MAX)
    if data.family_name is not None:
        body["FamilyName"] = clean_name(data.family_name, NAME_MAX)
    if data.company_name is not None:
        body["CompanyName"] = fit(data.company_name, NAME_MAX)
    if data.email is not None:
        body["PrimaryEmailAddr"] = {"Address": data.email}
    if data.phone is not None:
        body["PrimaryPhone"] = {"FreeFormNumber": fit(data.phone, 30)}
    if data.billing_address is not None and (address := _address(data.billing_address)):
        body["BillAddr"] = address
    currency = _currency(data.currency, ctx)
    if currency is not None:
        body["CurrencyRef"] = currency
    body["Notes"] = marker("customer", data.external_id)
    body["Active"] = data.active
    return body


def item_body(
    data: ItemData, income_account_ref: Mapping[str, str], expense_account_id: str | None = None
) -> Json:
    """The Item create body: `Name`, `Type` (Service or NonInventory), price, description,
    SKU, `IncomeAccountRef` (`{"value": id, "name": ...}`, name optional), for a
    non-inventory item the company's expense account (`ExpenseAccountRef`, when it set one),
    and `Active`.

    Raises PayloadError when the income account reference has no `value`.
    """
    account_id = income_account_ref.get("value")
    if not account_id:
        raise PayloadError("an item needs an income account (IncomeAccountRef.value)")
    account: Json = {"value": str(account_id)}
    if income_account_ref.get("name"):
        account["name"] = str(income_account_ref["name"])
    body: Json = {"Name": clean_name(data.name, NAME_MAX), "Type": ITEM_TYPES[data.type]}
    if data.unit_price is not None:
        body["UnitPrice"] = data.unit_price
    if data.description is not None:
        body["Description"] = fit(data.description, 4000)
    if data.sku is not None:
        body["Sku"] = fit(data.sku, 100)
    body["IncomeAccountRef"] = account
    if expense_account_id and data.type == "non_inventory":
        body["ExpenseAccountRef"] = _ref(expense_account_id)
    body["Active"] = data.active
    return body


def _tax_code(code: str | None, ctx: CompanyContext) -> str:
    """The line TaxCodeRef value: TAX/NON in the US (default as the company's
    `default_taxable` says), a TaxCode Id elsewhere.

    Raises PayloadError for anything QBO would refuse (6100 in the US, no rate elsewhere).
    """
    if ctx.is_us:
        value = (code or ("TAX" if ctx.default_taxable else "NON")).strip().upper()
        if value not in US_TAX_CODES:
            raise PayloadError(f"US invoice lines take tax code TAX or NON, not {code!r}")
        return value
    value = (code or ctx.default_tax_code_id or "").strip()
    if not value:
        raise PayloadError("a non-US invoice line needs a tax code and no default is set")
    if not value.isdigit():
        raise PayloadError(f"non-US invoice lines take a TaxCode Id, not {value!r}")
    return value


def _class_id(ctx: CompanyContext) -> str:
    """The company's class, for a body that carries it where its Preferences track classes
    (AccountingInfoPrefs.ClassTrackingPerTxn: on the transaction; ...PerTxnLine: on each
    line; https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    "ClassRef ... available if ClassTrackingPerTxn"). Raises PayloadError when it tracks none:
    QBO would drop the class silently."""
    assert ctx.class_id is not None
    if not (ctx.class_per_txn or ctx.class_per_line):
        raise PayloadError(
            f"the company's settings name class {ctx.class_id}, but its QBO preferences track"
            " no classes (AccountingInfoPrefs.ClassTrackingPerTxn / ClassTrackingPerTxnLine)"
        )
    return ctx.class_id


def _department(body: Json, ctx: CompanyContext) -> None:
    """`DepartmentRef` (the company's location) of a transaction, where its Preferences track
    departments (AccountingInfoPrefs.TrackDepartments). Raises PayloadError otherwise."""
    if not ctx.department_id:
        return
    if not ctx.departments:
        raise PayloadError(
            f"the company's settings name department {ctx.department_id}, but its QBO"
            " preferences track no departments (AccountingInfoPrefs.TrackDepartments)"
        )
    body["DepartmentRef"] = _ref(ctx.department_id)


def invoice_body(
    data: InvoiceData, ctx: CompanyContext, customer_ref: str, item_refs: Mapping[str, str]
) -> Json:
    """The Invoice create body with its whole line set.

    Lines are `SalesItemLineDetail` lines carrying `Amount`, `Qty` and `UnitPrice` as in
    the event (Decimal) and a `TaxCodeRef` per `_tax_code`. `DocNumber` is sent only when
    the company uses custom transaction numbers; `GlobalTaxCalculation` only outside the
    US; the memo goes to `CustomerMemo`, our marker to `PrivateNote`.
    Raises PayloadError for an item without a QBO id in `item_refs`, a tax code or a
    currency the company cannot take.
    """
    lines: list[Json] = []
    for line in data.lines:
        item_id = item_refs.get(line.item_external_id)
        if not item_id:
            raise PayloadError(f"item {line.item_external_id!r} has no QBO id yet")
        detail: Json = {
            "ItemRef": _ref(item_id),
            "Qty": line.quantity,
            "UnitPrice": line.unit_price,
            "TaxCodeRef": _ref(_tax_code(line.tax_code, ctx)),
        }
        if line.service_date is not None:
            detail["ServiceDate"] = line.service_date.isoformat()
        if ctx.class_id and not ctx.class_per_txn:
            detail["ClassRef"] = _ref(_class_id(ctx))
        out: Json = {"DetailType": "SalesItemLineDetail", "Amount": line.amount}
        if line.description is not None:
            out["Description"] = fit(line.description, 4000)
        out["SalesItemLineDetail"] = detail
        lines.append(out)
    body: Json = {"CustomerRef": _ref(customer_ref), "TxnDate": data.txn_date.isoformat()}
    if data.due_date is not None:
        body["DueDate"] = data.due_date.isoformat()
    if ctx.custom_txn_numbers and data.number is not None:
        body["DocNumber"] = fit(data.number, 21)
    currency = _currency(data.currency, ctx)
    if currency is not None:
        body["CurrencyRef"] = currency
    if not ctx.is_us:
        body["GlobalTaxCalculation"] = ctx.global_tax_calculation
    if ctx.class_id and ctx.class_per_txn:
        body["ClassRef"] = _ref(ctx.class_id)
    _department(body, ctx)
    body["Line"] = lines
    if data.memo is not None:
        body["CustomerMemo"] = _ref(fit(data.memo, 1000))
    body["PrivateNote"] = marker("invoice", data.external_id)
    return body


def payment_body(
    data: PaymentData,
    ctx: CompanyContext,
    customer_ref: str,
    invoice_refs: Mapping[str, str],
    method_id: str | None = None,
) -> Json:
    """The Payment create body: `TotalAmt`, `CustomerRef`, `TxnDate`, `PaymentRefNum` and
    one `Line` per applied invoice (`Amount` + `LinkedTxn` of type Invoice).

    `Line` is always present, possibly empty: on an update it replaces every application.
    The unapplied rest of `TotalAmt` stays a credit. `method_id` is the PaymentMethod Id of
    the event's `method` (the company's map of method names); the company's deposit-to
    account and department go along when it set them (unset: QBO deposits to Undeposited
    Funds). Our marker goes to `PrivateNote`.
    Raises PayloadError for an invoice without a QBO id in `invoice_refs` or a currency
    the company cannot take.
    """
    lines: list[Json] = []
    for applied in data.applied_to:
        invoice_id = invoice_refs.get(applied.invoice_external_id)
        if not invoice_id:
            raise PayloadError(f"invoice {applied.invoice_external_id!r} has no QBO id yet")
        lines.append(
            {"Amount": applied.amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
        )
    body: Json = {
        "CustomerRef": _ref(customer_ref),
        "TotalAmt": data.total,
        "TxnDate": data.date.isoformat(),
    }
    if data.reference is not None:
        body["PaymentRefNum"] = fit(data.reference, 21)
    if method_id is not None:
        body["PaymentMethodRef"] = _ref(method_id)
    if ctx.deposit_account_id is not None:
        body["DepositToAccountRef"] = _ref(ctx.deposit_account_id)
    _department(body, ctx)
    currency = _currency(data.currency, ctx)
    if currency is not None:
        body["CurrencyRef"] = currency
    body["Line"] = lines
    body["PrivateNote"] = marker("payment", data.external_id)
    return body
