"""Create bodies of Customer, Item, Invoice and Payment, built from validated event data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from app.events.schemas import (
    Address,
    AppliedCreditData,
    CustomerData,
    InvoiceData,
    InvoiceLine,
    ItemData,
    PaymentApplication,
    PaymentData,
    RefundData,
    SalesFormData,
    SalesReceiptData,
)
from app.sync.payloads.context import (
    CompanyContext,
    NameLists,
    PayloadError,
    field_pointer,
    resolve_name,
)
from app.sync.payloads.ownership import OWNED, Written
from app.sync.payloads.tax import (
    SHIPPING_ITEM_ID,
    TaxedPart,
    discount_line,
    global_tax_calculation,
    line_code,
    shipping_item,
    shipping_line,
    tax_detail,
)
from app.sync.payloads.text import NAME_MAX, clean_name, fit, marked_note, marker

Json = dict[str, Any]
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
            "and the company does not use multicurrency",
            field="/data/currency",
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


def customer_body(data: CustomerData, ctx: CompanyContext, parent_ref: str | None = None) -> Json:
    """The Customer create body: names, contact, billing address, marker in `Notes`,
    `Active`, and `CurrencyRef` when the company uses multicurrency. A sub-customer carries
    `ParentRef` (the parent's QBO id, `parent_ref`) and `Job: true`; `Taxable` and
    `TaxExemptionReasonId` go as the event gives them.

    DisplayName, GivenName and FamilyName are cleaned (`clean_name`). Fields absent from
    the event are omitted, so a sparse update leaves QBO's value in place.
    Raises PayloadError for a currency the company cannot take, or a parent without a QBO id.
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
    if parent_ref is not None:
        body["ParentRef"] = _ref(parent_ref)
        body["Job"] = True
    elif data.parent_external_id is not None:
        raise PayloadError(
            f"parent_external_id: customer {data.parent_external_id!r} has no QBO id yet"
        )
    if data.taxable is not None:
        body["Taxable"] = data.taxable
    if data.tax_exemption_reason_id is not None:
        body["TaxExemptionReasonId"] = str(data.tax_exemption_reason_id)
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


def _exchange_rate(
    rate: Decimal | None, currency: str | None, ctx: CompanyContext
) -> Decimal | None:
    """The ExchangeRate to send: only for a foreign currency of a multicurrency company.
    Raises PayloadError otherwise (QBO would ignore it or refuse the record)."""
    if rate is None:
        return None
    if not ctx.multicurrency:
        raise PayloadError("exchange_rate: the company does not use multicurrency")
    if currency is None or (ctx.home_currency is not None and currency == ctx.home_currency):
        raise PayloadError(
            f"exchange_rate: only for a currency other than the home currency {ctx.home_currency}"
        )
    return rate


def _untracked_class(where: str, value: str) -> PayloadError:
    """QBO drops a class its Preferences do not track silently
    (AccountingInfoPrefs.ClassTrackingPerTxn: on the transaction; ...PerTxnLine: on each
    line; https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    "ClassRef ... available if ClassTrackingPerTxn")."""
    return PayloadError(
        f"{where} names class {value}, but the company's QBO preferences track no classes"
        " there (AccountingInfoPrefs.ClassTrackingPerTxn / ClassTrackingPerTxnLine)",
        field_pointer(where),
    )


def _named(table: Mapping[str, str], value: str, field: str, entity: str) -> str:
    """The Id of the company's `entity` that `value` names (Id or name), or PayloadError
    naming the event's `field`."""
    found = resolve_name(table, value)
    if found is None:
        raise PayloadError(f"{field}: {value!r} is not one of the company's active {entity}")
    return found


def _classes(
    data: SalesFormData, ctx: CompanyContext, names: NameLists, defaults: bool
) -> tuple[str | None, list[str | None]]:
    """(ClassRef of the invoice, ClassRef of each line) by the company's preferences: a
    line's own class, else the invoice's, else the company's settings (`ctx.class_id`; on
    the invoice only when `defaults`). Raises PayloadError for a class named where the
    company does not track classes, or one it does not have."""
    given = None
    header: str | None = None
    if data.class_ is not None:
        if not ctx.class_per_txn and not ctx.class_per_line:
            raise _untracked_class("class", data.class_)
        given = _named(names.classes, data.class_, "class", "classes")
        header = given if ctx.class_per_txn else None
    elif ctx.class_id and ctx.class_per_txn and defaults:
        header = ctx.class_id
    elif ctx.class_id and not ctx.class_per_txn and not ctx.class_per_line:
        raise _untracked_class("the company's settings", ctx.class_id)
    lines: list[str | None] = []
    for index, line in enumerate(data.lines):
        own = None
        if line.class_ is not None:
            if not ctx.class_per_line:
                raise _untracked_class(f"lines[{index}].class", line.class_)
            own = _named(names.classes, line.class_, f"lines[{index}].class", "classes")
        elif not ctx.class_per_txn and ctx.class_per_line:
            own = given or ctx.class_id
        lines.append(own if line.kind == "item" else None)
    return header, lines


def _department(
    body: Json, ctx: CompanyContext, given: str | None = None, *, defaults: bool = True
) -> None:
    """`DepartmentRef` (the company's location) of a transaction: the event's department
    (`given`, resolved), else the company's settings when `defaults`, where its Preferences
    track departments (AccountingInfoPrefs.TrackDepartments). Raises PayloadError otherwise."""
    value = given or (ctx.department_id if defaults else None)
    if not value:
        return
    if not ctx.departments:
        raise _untracked_department("department" if given else "the company's settings", value)
    body["DepartmentRef"] = _ref(value)


def _untracked_department(where: str, value: str) -> PayloadError:
    return PayloadError(
        f"{where} names department {value}, but the company's QBO preferences track no"
        " departments (AccountingInfoPrefs.TrackDepartments)",
        field_pointer(where),
    )


def _custom_fields(values: Mapping[str, str], ctx: CompanyContext) -> list[Json]:
    """CustomField entries by the DefinitionId of the company's field of each name
    (Preferences.SalesFormsPrefs.CustomField). Raises PayloadError for a name it lacks."""
    out: list[Json] = []
    for name, value in values.items():
        definition = ctx.custom_field(name)
        if definition is None:
            known = ", ".join(n for n, _ in ctx.custom_fields) or "none"
            raise PayloadError(
                f"custom_fields: {name!r} is not one of the company's sales-form custom"
                f" fields in use ({known})"
            )
        known_name, definition_id = definition
        out.append(
            {
                "DefinitionId": definition_id,
                "Name": known_name,
                "Type": "StringType",
                "StringValue": value,
            }
        )
    return out


def _line(
    line: InvoiceLine,
    index: int,
    ctx: CompanyContext,
    item_refs: Mapping[str, str],
    class_id: str | None,
    code: str | None,
) -> Json:
    """One Line of an invoice: a sales line, a DescriptionOnly or a SubTotalLineDetail."""
    if line.kind == "description":
        return {
            "DetailType": "DescriptionOnly",
            "Description": fit(line.description or "", 4000),
            "DescriptionLineDetail": {},
        }
    if line.kind == "subtotal":
        out: Json = {"DetailType": "SubTotalLineDetail"}
        if line.description is not None:
            out["Description"] = fit(line.description, 4000)
        out["SubTotalLineDetail"] = {}
        return out
    assert line.item_external_id is not None
    assert code is not None
    item_id = item_refs.get(line.item_external_id)
    if not item_id:
        raise PayloadError(
            f"item {line.item_external_id!r} has no QBO id yet",
            f"/data/lines/{index}/item_external_id",
        )
    detail: Json = {
        "ItemRef": _ref(item_id),
        "Qty": line.quantity,
        "UnitPrice": line.unit_price,
        "TaxCodeRef": _ref(code),
    }
    if line.service_date is not None:
        detail["ServiceDate"] = line.service_date.isoformat()
    if class_id is not None:
        detail["ClassRef"] = _ref(class_id)
    out = {"DetailType": "SalesItemLineDetail", "Amount": line.amount}
    if line.description is not None:
        out["Description"] = fit(line.description, 4000)
    out["SalesItemLineDetail"] = detail
    return out


def number_note(data: SalesFormData, ctx: CompanyContext) -> str | None:
    """What a synced invoice's event says when its `number` was not sent: the company
    numbers its own invoices (SalesFormsPrefs.CustomTxnNumbers off, or its settings'
    `doc_number_ours` false), so QBO chose the DocNumber. None when nothing was left out."""
    if data.number is None or ctx.custom_txn_numbers:
        return None
    return (
        f"number {data.number!r} not sent: QBO numbers this company's invoices"
        " (custom transaction numbers are off, or the settings' doc_number_ours is false)"
    )


def invoice_body(
    data: InvoiceData,
    ctx: CompanyContext,
    customer_ref: str,
    item_refs: Mapping[str, str],
    names: NameLists | None = None,
    *,
    defaults: bool = True,
) -> Json:
    """The Invoice create body: a sales form (`sales_form_body`) with its `DueDate` and
    terms (`SalesTermRef`, resolved in `names`)."""
    names = names or NameLists()
    body = sales_form_body("invoice", data, ctx, customer_ref, item_refs, names, defaults=defaults)
    if data.due_date is not None:
        body["DueDate"] = data.due_date.isoformat()
    if data.terms is not None:
        body["SalesTermRef"] = _ref(_named(names.terms, data.terms, "terms", "terms"))
    return body


def sales_form_body(
    kind: str,
    data: SalesFormData,
    ctx: CompanyContext,
    customer_ref: str,
    item_refs: Mapping[str, str],
    names: NameLists | None = None,
    *,
    defaults: bool = True,
) -> Json:
    """The create body of a sales form (Invoice, CreditMemo, SalesReceipt, RefundReceipt:
    QBO's SalesTransaction) of entity type `kind`, with its whole line set.

    Item lines are `SalesItemLineDetail` lines carrying `Amount`, `Qty` and `UnitPrice` as
    in the event (Decimal) and a `TaxCodeRef` per `_tax_code`; description lines are
    `DescriptionOnly`, subtotal lines `SubTotalLineDetail` (neither carries an amount).
    `DocNumber` is sent only when the company uses custom transaction numbers (see
    `number_note`); `GlobalTaxCalculation` only outside the US; the memo goes to
    `CustomerMemo`, our marker and the private note to `PrivateNote`. Terms, class and
    department named by Id or name are resolved in `names` (the company's lists); the
    company's settings' class and department apply where the event names none, on the
    invoice itself only when `defaults` (a create: an update leaves QBO's value).
    Raises PayloadError for an item without a QBO id in `item_refs`, a tax code, currency,
    exchange rate, term, class, department or custom field the company cannot take.
    """
    names = names or NameLists()
    header_class, line_classes = _classes(data, ctx, names, defaults)
    codes = [
        line_code(line.tax_code, line.taxable, ctx, names, f"lines[{index}]")
        if line.kind == "item"
        else None
        for index, line in enumerate(data.lines)
    ]
    lines = [
        _line(line, index, ctx, item_refs, line_classes[index], codes[index])
        for index, line in enumerate(data.lines)
    ]
    parts = [
        TaxedPart(f"lines[{index}]", line.amount, code, line.tax_amount)
        for index, (line, code) in enumerate(zip(data.lines, codes, strict=True))
        if code is not None and line.amount is not None
    ]
    shipping_item_id = None
    if data.shipping is not None:
        shipping_item_id = shipping_item(ctx)
        code = line_code(data.shipping.tax_code, data.shipping.taxable, ctx, names, "shipping")
        if ctx.is_us and data.shipping.taxable is None and data.shipping.tax_code is None:
            code = "NON"  # shipping is untaxed unless the caller says so
        parts.append(TaxedPart("shipping", data.shipping.amount, code, data.shipping.tax_amount))
    discount = discount_line(data, ctx, as_amount=shipping_item_id not in (None, SHIPPING_ITEM_ID))
    if discount is not None:
        lines.append(discount)
    if data.shipping is not None and shipping_item_id is not None:
        lines.append(shipping_line(data, shipping_item_id, parts[-1].code))
    txn_tax = tax_detail(data, ctx, names, parts)
    body: Json = {"CustomerRef": _ref(customer_ref), "TxnDate": data.txn_date.isoformat()}
    if data.ship_date is not None:
        body["ShipDate"] = data.ship_date.isoformat()
    if ctx.custom_txn_numbers and data.number is not None:
        body["DocNumber"] = fit(data.number, 21)
    currency = _currency(data.currency, ctx)
    if currency is not None:
        body["CurrencyRef"] = currency
    rate = _exchange_rate(data.exchange_rate, data.currency, ctx)
    if rate is not None:
        body["ExchangeRate"] = rate
    calculation = global_tax_calculation(data, ctx)
    if not ctx.is_us:
        body["GlobalTaxCalculation"] = calculation
    if txn_tax is not None:
        body["TxnTaxDetail"] = txn_tax
    if data.discount is not None:
        body["ApplyTaxAfterDiscount"] = data.discount.before_tax
    if header_class is not None:
        body["ClassRef"] = _ref(header_class)
    department = None
    if data.department is not None:
        if not ctx.departments:
            raise _untracked_department("department", data.department)
        department = _named(names.departments, data.department, "department", "departments")
    _department(body, ctx, department, defaults=defaults)
    if data.ship_to is not None and (ship := _address(data.ship_to)):
        body["ShipAddr"] = ship
    if data.email is not None:
        for key, email in (
            ("BillEmail", data.email.to),
            ("BillEmailCc", data.email.cc),
            ("BillEmailBcc", data.email.bcc),
        ):
            if email is not None:
                body[key] = {"Address": email}
    if data.custom_fields:
        body["CustomField"] = _custom_fields(data.custom_fields, ctx)
    body["Line"] = lines
    if data.memo is not None:
        body["CustomerMemo"] = _ref(fit(data.memo, 1000))
    body["PrivateNote"] = marked_note(kind, data.external_id, data.private_note)
    return body


def invoice_lines(
    applied_to: Sequence[PaymentApplication], invoice_refs: Mapping[str, str]
) -> list[Json]:
    """The Lines of a payment (or an applied credit) that pay invoices: each its `Amount`
    and `LinkedTxn` of type Invoice. Raises PayloadError for an invoice without a QBO id in
    `invoice_refs`, naming its place in `applied_to`."""
    lines: list[Json] = []
    for index, applied in enumerate(applied_to):
        invoice_id = invoice_refs.get(applied.invoice_external_id)
        if not invoice_id:
            raise PayloadError(
                f"invoice {applied.invoice_external_id!r} has no QBO id yet",
                f"/data/applied_to/{index}/invoice_external_id",
            )
        lines.append(
            {"Amount": applied.amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
        )
    return lines


def payment_body(
    data: PaymentData,
    ctx: CompanyContext,
    customer_ref: str,
    invoice_refs: Mapping[str, str],
    method_id: str | None = None,
    *,
    defaults: bool = True,
) -> Json:
    """The Payment create body: `TotalAmt`, `CustomerRef`, `TxnDate`, `PaymentRefNum` and
    one `Line` per applied invoice (`Amount` + `LinkedTxn` of type Invoice).

    `Line` is always present, possibly empty: on an update it replaces every application.
    The unapplied rest of `TotalAmt` stays a credit. `method_id` is the PaymentMethod Id of
    the event's `method` (the company's map of method names); the company's deposit-to
    account and department go along when it set them (unset: QBO deposits to Undeposited
    Funds), the department on a create only (`defaults`). `ExchangeRate` goes for a foreign
    currency of a multicurrency company. Our marker goes to `PrivateNote`.
    Raises PayloadError for an invoice without a QBO id in `invoice_refs`, a currency or an
    exchange rate the company cannot take.
    """
    lines = invoice_lines(data.applied_to, invoice_refs)
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
    _department(body, ctx, defaults=defaults)
    currency = _currency(data.currency, ctx)
    if currency is not None:
        body["CurrencyRef"] = currency
    rate = _exchange_rate(data.exchange_rate, data.currency, ctx)
    if rate is not None:
        body["ExchangeRate"] = rate
    body["Line"] = lines
    body["PrivateNote"] = marker("payment", data.external_id)
    return body


def paid_sale_body(
    kind: str,
    data: SalesReceiptData | RefundData,
    ctx: CompanyContext,
    customer_ref: str,
    item_refs: Mapping[str, str],
    names: NameLists | None = None,
    method_id: str | None = None,
    linked: Mapping[str, str] | None = None,
    *,
    defaults: bool = True,
) -> Json:
    """The create body of a SalesReceipt (`kind` sales_receipt) or RefundReceipt (refund):
    a sales form paid at once, with `PaymentMethodRef` (`method_id`, the company's method
    of the event's), `PaymentRefNum` and the company's deposit account
    (`DepositToAccountRef`; a sales receipt without one goes to Undeposited Funds, a refund
    needs one: "DepositToAccountRef ... required ... Account from which payment money is
    refunded", RefundReceipt reference,
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/refundreceipt).
    A refund of a payment or credit memo links it (`linked`: {"TxnId", "TxnType"}) in
    `LinkedTxn` (UNCONFIRMED: that QBO keeps the link). Raises PayloadError as
    `sales_form_body` does, and for a refund without an account to pay from."""
    body = sales_form_body(kind, data, ctx, customer_ref, item_refs, names, defaults=defaults)
    if data.reference is not None:
        body["PaymentRefNum"] = fit(data.reference, 21)
    if method_id is not None:
        body["PaymentMethodRef"] = _ref(method_id)
    if ctx.deposit_account_id is not None:
        body["DepositToAccountRef"] = _ref(ctx.deposit_account_id)
    elif kind == "refund" and defaults:
        raise PayloadError(
            "a refund is paid from an account: set the company's deposit_account_id"
            " (a Bank or Other Current Asset account)"
        )
    if linked is not None:
        body["LinkedTxn"] = [dict(linked)]
    return body


def applied_credit_body(
    data: AppliedCreditData,
    customer_ref: str,
    credit_memo_ref: str,
    invoice_refs: Mapping[str, str],
) -> Json:
    """The Payment of total 0 that spends a credit memo on invoices: one Line per invoice
    (its amount, `LinkedTxn` Invoice) and one for the credit memo (the sum, `LinkedTxn`
    CreditMemo), as QBO records a credit applied in its Receive Payment form ("a Payment
    with TotalAmt 0 ... the credit memo and invoices as linked transactions", Payment
    reference, https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment).
    No application left: no lines, which unapplies the credit. Raises PayloadError for an
    invoice without a QBO id."""
    lines = invoice_lines(data.applied_to, invoice_refs)
    total = sum((a.amount for a in data.applied_to), Decimal(0))
    if lines:
        lines.append(
            {"Amount": total, "LinkedTxn": [{"TxnId": credit_memo_ref, "TxnType": "CreditMemo"}]}
        )
    return {
        "CustomerRef": _ref(customer_ref),
        "TotalAmt": Decimal(0),
        "TxnDate": data.date.isoformat(),
        "Line": lines,
        "PrivateNote": marker("applied_credit", data.external_id),
    }
