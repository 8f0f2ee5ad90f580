"""The header of a sales form (invoice, credit memo, sales receipt, refund receipt): the
customer, DocNumber, dates, currency, custom fields, memo, e-mail addresses, class,
department and term, and the booking every form shares (`book_form`: lines, tax and
TotalAmt; `form_record`: the stored record). Each form's module adds its own fields.

Sources: Intuit's XSD puts all of these on SalesTransaction, the base of Invoice,
CreditMemo, SalesReceipt and RefundReceipt; the recorded forms carry them alike
(quickbooks-ruby fixtures fetch_credit_memo.xml, refund_receipt.xml, sales_receipt.xml;
qbo_api-vcr all__sales_receipts). The invoice rules below are sourced where they are
written; that QBO applies each of them to the other forms too is UNCONFIRMED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from app.emulator import faults
from app.emulator.invoice_tax import Totals, cents, invoice_tax
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    check_email,
    check_length,
    check_properties,
    decimal_of,
    next_version,
    optional_ref,
    ref_value,
    resolve_ref,
)
from app.emulator.sales_lines import build_lines

CUSTOM_FIELD_LENGTH = 31
GLOBAL_TAX_VALUES = frozenset({"TaxExcluded", "TaxInclusive", "NotApplicable"})
# What `form_record` writes itself, so `passthrough` never copies it from the request.
FORM_HANDLED = frozenset(
    {
        "DocNumber",
        "TxnDate",
        "CurrencyRef",
        "LinkedTxn",
        "Line",
        "TxnTaxDetail",
        "CustomerRef",
        "BillAddr",
        "ShipAddr",
        "TotalAmt",
        "ApplyTaxAfterDiscount",
        "PrintStatus",
        "EmailStatus",
        "Balance",
        "GlobalTaxCalculation",
        "HomeTotalAmt",
        "HomeBalance",
        "ClassRef",
        "DepartmentRef",
        "SalesTermRef",
        "CustomField",
        "CustomerMemo",
        "ShipDate",
        "BillEmail",
        "BillEmailCc",
        "BillEmailBcc",
        "ExchangeRate",
        "PrivateNote",
    }
)
# Forms whose DocNumber comes from the company's one sequence when custom numbering is off.
NUMBERED_FORMS = ("Invoice", "CreditMemo", "SalesReceipt", "RefundReceipt")


@dataclass
class SalesForm:
    """What a sales form's request books to: its lines and their totals, tax, TotalAmt,
    currency and the header references, before the form's own fields are added."""

    entity: str
    customer: Json | None
    lines: list[Json]
    totals: Totals
    txn_tax: Json
    total: Decimal
    currency: Json
    rate: Decimal | None
    global_tax: str | None
    after_discount: bool
    addresses: Json
    refs: Json


def book_form(
    ctx: WriteContext,
    entity: str,
    data: Json,
    existing: Json | None,
    *,
    needs_customer: bool = True,
    form: str = "an invoice",
) -> SalesForm:
    """Validate the parts every sales form shares and compute its TotalAmt.

    Raises 2010 (a property the entity's XSD type lacks), 2020 (CustomerRef when
    `needs_customer`, Line), 2500/610 (customer, item, tax code, class, department, term,
    discount account), 6070, 6100, 2170 (GlobalTaxCalculation), 6000 (discounts, currency).
    TotalAmt = sales lines - discounts + shipping + tax (tax only when TaxExcluded; US
    amounts are always tax-excluded); the SubTotalLine is not added (Invoice reference:
    SubTotalLine "Subtotal of all the lines", TotalAmt "Indicates the total amount of the
    transaction. This includes the total of all the charges, allowances, and taxes").
    Addresses default from the customer (qbo-facts: "Addresses default from the Customer
    if omitted").
    """
    check_properties(entity, data)
    customer: Json | None = None
    if data.get("CustomerRef") is not None:
        customer = resolve_ref(ctx.company, "Customer", data["CustomerRef"], "CustomerRef")
    elif needs_customer:
        raise faults.required_param("CustomerRef")
    lines, totals = build_lines(ctx, data, existing, form)
    refs = header_refs(ctx, data)
    global_tax = data.get("GlobalTaxCalculation")
    if global_tax is not None and global_tax not in GLOBAL_TAX_VALUES:
        raise faults.invalid_enum("GlobalTaxCalculation", str(global_tax))
    # GlobalTaxCalculation is "Not applicable to US companies" (Invoice reference).
    global_tax = None if ctx.company.is_us else str(global_tax or "TaxExcluded")
    addresses: Json = {}
    for addr in ("BillAddr", "ShipAddr"):
        given = data.get(addr)
        source = given if isinstance(given, dict) else (customer or {}).get(addr)
        if isinstance(source, dict):
            addresses[addr] = source
    after_discount = data.get("ApplyTaxAfterDiscount") is True or (
        str(data.get("ApplyTaxAfterDiscount")).lower() == "true"
    )
    requested = data.get("TxnTaxDetail")
    if existing is not None and requested is existing.get("TxnTaxDetail"):
        requested = None  # a sparse update that left TxnTaxDetail out: computed again
    txn_tax = invoice_tax(
        ctx,
        totals,
        requested,
        global_tax or "TaxExcluded",
        after_discount,
        addresses.get("ShipAddr"),
    )
    totals.tax = txn_tax["TotalTax"]
    total = totals.subtotal - totals.discount + totals.shipping
    if global_tax in (None, "TaxExcluded"):
        total += totals.tax
    currency, rate = transaction_currency(ctx, data, customer)
    return SalesForm(
        entity=entity,
        customer=customer,
        lines=lines,
        totals=totals,
        txn_tax=txn_tax,
        total=money(total),
        currency=currency,
        rate=rate,
        global_tax=global_tax,
        after_discount=after_discount,
        addresses=addresses,
        refs=refs,
    )


def form_record(
    ctx: WriteContext,
    booked: SalesForm,
    data: Json,
    existing: Json | None,
    *,
    lead: Json,
    balance: Decimal,
    due_date: str | None = None,
) -> Json:
    """The stored record of a booked form: `lead` (the form's own leading fields), the
    server fields, then the header and totals in the order QBO answers them, Balance
    (and HomeBalance) = `balance`. The caller adds the form's own fields after.

    A job's DisplayName, not its FullyQualifiedName, is CustomerRef's name: quickbooks-ruby
    fixture budgets.xml names the job "0969 Ocean View Road" in CustomerRef (the customer
    list has "Freeman Sporting Goods:0969 Ocean View Road"); that forms do so is
    UNCONFIRMED.
    """
    sync_token, meta = next_version(existing, ctx.stamp)
    record: Json = {
        **lead,
        "domain": "QBO",
        "sparse": False,
        "Id": existing["Id"] if existing else ctx.company.new_id(booked.entity),
        "SyncToken": sync_token,
        "MetaData": meta,
    }
    custom = custom_fields(ctx, data)
    if custom:
        record["CustomField"] = custom
    number = doc_number(ctx, booked.entity, data, existing)
    if number is not None:
        record["DocNumber"] = number
    record["TxnDate"] = parse_date(data, "TxnDate", ctx.today)
    record["CurrencyRef"] = booked.currency
    rate = booked.rate
    if rate is not None:
        record["ExchangeRate"] = plain_number(rate)
    if data.get("PrivateNote") is not None:
        check_length("PrivateNote", data["PrivateNote"], 4000)
        record["PrivateNote"] = data["PrivateNote"]
    record["LinkedTxn"] = existing.get("LinkedTxn", []) if existing else []
    record["Line"] = booked.lines
    record["TxnTaxDetail"] = booked.txn_tax
    if booked.customer is not None:
        customer = booked.customer
        record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
    memo = customer_memo(data)
    if memo is not None:
        record["CustomerMemo"] = memo
    record.update(booked.addresses)
    if data.get("ShipDate") not in (None, ""):
        record["ShipDate"] = parse_date(data, "ShipDate", ctx.today)
    if due_date is not None:
        record["DueDate"] = due_date
    record["TotalAmt"] = booked.total
    if rate is not None:
        record["HomeTotalAmt"] = money(cents(booked.total * rate))
    record["ApplyTaxAfterDiscount"] = booked.after_discount
    record["PrintStatus"] = data.get("PrintStatus", "NeedToPrint")
    record["EmailStatus"] = data.get("EmailStatus", "NotSet")
    record.update(emails(data))
    record["Balance"] = money(balance)
    if rate is not None:
        record["HomeBalance"] = money(cents(record["Balance"] * rate))
    if booked.global_tax is not None:
        record["GlobalTaxCalculation"] = booked.global_tax
    record.update(booked.refs)
    return record


def void_amounts(record: Json) -> None:
    """Void a sales form in place: line amounts (and quantities), tax, TotalAmt and
    Balance to zero, "Voided" prepended to PrivateNote (recorded for invoices: qbo_api-vcr
    void__invoice__1, and Intuit's Invoice reference [S39]). The caller bumps the
    SyncToken and stores it."""
    for line in record["Line"]:
        line["Amount"] = Decimal(0)
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict) and "Qty" in detail:
            detail["Qty"] = Decimal(0)
    note = record.get("PrivateNote")
    record["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    record["TxnTaxDetail"] = {"TotalTax": Decimal(0)}
    record["TotalAmt"] = Decimal(0)
    record["Balance"] = Decimal(0)
    for home in ("HomeTotalAmt", "HomeBalance"):
        if home in record:
            record[home] = Decimal(0)


def doc_number(ctx: WriteContext, entity: str, data: Json, existing: Json | None) -> str | None:
    """The form's DocNumber: the one sent (21 characters at most, 2050; with custom
    numbering on, unique among the forms of its type unless `include=allowduplicatedocnum`,
    6140 naming the other's TxnType and TxnId - qbo-facts §4), the one it has, or with
    custom numbering off the company's next number. One sequence serves every sales form:
    the sandbox's sales receipts are 1003, 1008, 1011, 1014 (qbo_api-vcr
    all__sales_receipts) between its invoices 1004 and 1035 (airbyte expected records);
    that credit memos and refund receipts draw from it too is UNCONFIRMED.
    """
    given = data.get("DocNumber")
    if given not in (None, ""):
        given = str(given)
        check_length("DocNumber", given, 21)
        if ctx.company.custom_txn_numbers and not ctx.allow_duplicate_doc_number:
            own_id = existing["Id"] if existing else None
            for other_id, other in ctx.company.table(entity).items():
                if other_id != own_id and other.get("DocNumber") == given:
                    raise faults.duplicate_doc_number(given, entity, other_id)
        return given
    if existing is not None and existing.get("DocNumber"):
        return str(existing["DocNumber"])
    if ctx.company.custom_txn_numbers:
        return None  # custom numbering on and none sent: QBO leaves it empty
    number = ctx.company.next_doc_number
    ctx.company.next_doc_number += 1
    return str(number)


def parse_date(data: Json, key: str, default: date) -> str:
    """A date field as ISO text (`default` when absent); 2010 when it does not parse."""
    value = data.get(key)
    if value in (None, ""):
        return default.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise faults.QboFault(
            [
                faults.FaultError(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"Property Name:Can not parse date {value} specified is unsupported or invalid",
                    key,
                )
            ]
        ) from exc


def custom_fields(ctx: WriteContext, data: Json) -> list[Json]:
    """The invoice's CustomField list as QBO answers it: every enabled sales-form field,
    `{DefinitionId, Name, Type: StringType}`, with `StringValue` where the request gave
    one (recorded: invoices list the company's fields even without a value, e.g.
    `{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}` in qbo_api-vcr
    create__invoice__0 and quickbooks-ruby invoice_line_item_description_only.xml).

    DefinitionId is the N of Preferences `SalesFormsPrefs.SalesCustomNameN`
    (QuickBooks-V3-PHP-SDK issues #258, #398); only the first three string fields are
    in the API (Intuit "Manage custom fields"). The Name comes from the definition, not
    the request. A DefinitionId the company does not have, or a disabled field, is
    dropped without a Fault (UNCONFIRMED; integrators report values that "don't get
    added" with no error: QuickBooks-V3-PHP-SDK #258, ruckus/quickbooks-ruby #219).
    StringValue longer than 31 characters is 2050 (UNCONFIRMED: QBO's form limit).
    """
    sent: dict[str, Json] = {}
    given = data.get("CustomField") or []
    for item in given if isinstance(given, list) else [given]:
        if isinstance(item, dict) and item.get("DefinitionId") not in (None, ""):
            sent[str(item["DefinitionId"])] = item
    fields: list[Json] = []
    for number, definition in enumerate(ctx.company.sales.custom_fields, start=1):
        if not definition.get("enabled", True):
            continue
        out: Json = {
            "DefinitionId": str(number),
            "Name": str(definition.get("name", "")),
            "Type": "StringType",
        }
        value = sent.get(str(number), {}).get("StringValue")
        if value not in (None, ""):
            check_length("CustomField.StringValue", str(value), CUSTOM_FIELD_LENGTH)
            out["StringValue"] = str(value)
        fields.append(out)
    return fields


def transaction_currency(
    ctx: WriteContext, data: Json, customer: Json | None
) -> tuple[Json, Decimal | None]:
    """CurrencyRef and ExchangeRate (None outside multicurrency companies).

    "Manage multiple currencies" (Intuit): "Exchange rates are always recorded as the
    number of home currency units it takes to equal one foreign currency unit";
    HomeTotalAmt is the total in home currency. A transaction is in its customer's
    currency (a different CurrencyRef is 6000, UNCONFIRMED text). A home-currency
    invoice has ExchangeRate 1; a foreign one sent without ExchangeRate is booked at 1
    (the behaviour this emulator was asked to mirror; QBO may instead look up its own
    rate table - UNCONFIRMED). HomeTotalAmt and HomeBalance = amount x rate, rounded to
    the cent. Outside multicurrency companies CurrencyRef is the home currency whatever
    is sent (the emulator's long-standing behaviour; QBO's answer UNCONFIRMED). A form
    without a customer (a sales receipt may have none) is in the home currency.
    """
    code, name = ctx.company.currency
    home = {"value": code, "name": name}
    if not ctx.company.sales.multicurrency:
        return home, None
    own = (customer or {}).get("CurrencyRef") or home
    sent = ref_value(data.get("CurrencyRef"))
    if sent is not None and sent.upper() != own["value"]:
        raise faults.business_validation(
            f"The currency of the transaction ({sent}) must match the customer's currency "
            f"({own['value']})."
        )
    rate = decimal_of(data, "ExchangeRate", "ExchangeRate")
    if rate is not None and rate <= 0:
        raise faults.invalid_number("ExchangeRate", data["ExchangeRate"])
    if own["value"] == code or rate is None:
        rate = Decimal(1)
    return {"value": own["value"], "name": own.get("name")}, rate


def customer_memo(data: Json) -> Json | None:
    """CustomerMemo (a MemoRef, `{"value": text}`), at most 1000 characters (Invoice
    reference; the limit is UNCONFIRMED)."""
    memo = data.get("CustomerMemo")
    if memo is None:
        return None
    text = memo.get("value") if isinstance(memo, dict) else memo
    if text in (None, ""):
        return None
    check_length("CustomerMemo", str(text), 1000)
    return {"value": str(text)}


def emails(data: Json) -> Json:
    """BillEmail, BillEmailCc, BillEmailBcc as sent, each address checked (2210, as for a
    customer's e-mail); EmailStatus NeedToSend needs BillEmail (Invoice reference: "If
    EmailStatus=NeedToSend, BillEmail is a required input"), else 2020."""
    out: Json = {}
    for key in ("BillEmail", "BillEmailCc", "BillEmailBcc"):
        value = data.get(key)
        if not isinstance(value, dict) or value.get("Address") in (None, ""):
            continue
        address = str(value["Address"])
        for part in address.split(","):
            check_email(f"{key}.Address", part.strip())
        out[key] = {"Address": address}
    if data.get("EmailStatus") == "NeedToSend" and "BillEmail" not in out:
        raise faults.required_param("BillEmail")
    return out


def header_refs(ctx: WriteContext, data: Json) -> Json:
    """ClassRef, DepartmentRef and SalesTermRef as stored, for those the body names.
    SalesTermRef is answered without a name, as in QBO's recorded invoices."""
    refs: Json = {}
    for key, entity in (("ClassRef", "Class"), ("DepartmentRef", "Department")):
        ref = optional_ref(ctx.company, entity, data, key, key)
        if ref is not None:
            refs[key] = ref
    term = optional_ref(ctx.company, "Term", data, "SalesTermRef", "SalesTermRef", named=False)
    if term is not None:
        refs["SalesTermRef"] = term
    return refs
