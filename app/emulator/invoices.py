"""Invoice: lines and their arithmetic, tax, DocNumber, totals, delete and void."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import applied_to_invoice, refresh_customer
from app.emulator.invoice_tax import Totals, cents, invoice_tax, line_tax_code
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
    check_email,
    check_length,
    check_properties,
    decimal_of,
    next_version,
    optional_ref,
    passthrough,
    ref_value,
    resolve_ref,
)

LINE_DETAIL_TYPES = frozenset(
    {
        "PaymentLineDetail",
        "DiscountLineDetail",
        "TaxLineDetail",
        "SalesItemLineDetail",
        "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail",
        "DepositLineDetail",
        "PurchaseOrderItemLineDetail",
        "ItemReceiptLineDetail",
        "JournalEntryLineDetail",
        "GroupLineDetail",
        "DescriptionOnly",
        "SubTotalLineDetail",
        "SalesOrderItemLineDetail",
        "TDSLineDetail",
        "ReimburseLineDetail",
        "ItemAdjustmentLineDetail",
    }
)
HALF_CENT = Decimal("0.005")
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"
CUSTOM_FIELD_LENGTH = 31
GLOBAL_TAX_VALUES = frozenset({"TaxExcluded", "TaxInclusive", "NotApplicable"})
HANDLED = frozenset(
    {
        "AllowIPNPayment",
        "AllowOnlinePayment",
        "AllowOnlineCreditCardPayment",
        "AllowOnlineACHPayment",
        "DocNumber",
        "TxnDate",
        "CurrencyRef",
        "LinkedTxn",
        "Line",
        "TxnTaxDetail",
        "CustomerRef",
        "BillAddr",
        "ShipAddr",
        "DueDate",
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


def _line_id(line: Json, existing_ids: set[str], next_id: list[int]) -> str:
    """Keep a line Id the invoice already has; any other line is new (QBO's rule)."""
    given = str(line.get("Id", ""))
    if given in existing_ids:
        return given
    next_id[0] += 1
    return str(next_id[0])


def _sales_line(ctx: WriteContext, line: Json, totals: Totals) -> tuple[Json, Decimal]:
    detail = line.get("SalesItemLineDetail") or {}
    if not isinstance(detail, dict):
        raise faults.required_param("Line.SalesItemLineDetail")
    amount = decimal_of(line, "Amount", "Line.Amount")
    if amount is None:
        raise faults.required_param("Line.Amount")
    item_ref = detail.get("ItemRef")
    if item_ref is None:
        # QBO falls back on the company's default "Services" item.
        item_ref = {"value": "1"}
    if ref_value(item_ref) == SHIPPING_ITEM_ID:
        return _shipping_line(ctx, detail, amount, totals), amount
    item = resolve_ref(ctx.company, "Item", item_ref, "Line.SalesItemLineDetail.ItemRef")
    qty = decimal_of(detail, "Qty", "Line.SalesItemLineDetail.Qty")
    price = decimal_of(detail, "UnitPrice", "Line.SalesItemLineDetail.UnitPrice")
    # Amount is Qty x UnitPrice rounded to cents: exactly half a cent apart is rounding.
    if qty is not None and price is not None and abs(qty * price - amount) > HALF_CENT:
        raise faults.amount_mismatch(amount)
    out: Json = {"ItemRef": {"value": item["Id"], "name": item["Name"]}}
    if price is not None:
        out["UnitPrice"] = plain_number(price)
    if qty is not None:
        out["Qty"] = plain_number(qty)
    out["TaxCodeRef"] = line_tax_code(ctx, detail.get("TaxCodeRef"), amount, totals)
    line_class = optional_ref(
        ctx.company, "Class", detail, "ClassRef", "Line.SalesItemLineDetail.ClassRef"
    )
    if line_class is not None:
        out["ClassRef"] = line_class
    for key, value in detail.items():
        if key not in out:
            out[key] = value
    totals.subtotal += amount
    return out, amount


def _shipping_line(ctx: WriteContext, detail: Json, amount: Decimal, totals: Totals) -> Json:
    """The invoice's shipping charge: a sales line whose ItemRef is the pseudo item
    `SHIPPING_ITEM_ID` (ruckus/quickbooks-ruby issue #319, an integrator's answer: "make a
    new line item with the ItemRef pointing to the Shipping Item id"; the value is the
    literal string in Intuit's API explorer samples).

    Only when Preferences.SalesFormsPrefs.AllowShipping is true; otherwise no item has
    that Id and QBO answers as for any unknown item, 2500 on the ItemRef (UNCONFIRMED).
    Its TaxCodeRef says whether shipping is taxed (TAX/NON in the US, default NON; a tax
    code elsewhere, required as on every line - UNCONFIRMED for shipping). Shipping
    counts in TotalAmt but not in the subtotal, and no discount applies to it
    (UNCONFIRMED: as QBO's sales form lays it out, shipping below discount).
    """
    if not ctx.company.sales.allow_shipping:
        raise faults.invalid_reference("Line.SalesItemLineDetail.ItemRef", SHIPPING_ITEM_ID)
    out: Json = {"ItemRef": {"value": SHIPPING_ITEM_ID}}
    out["TaxCodeRef"] = line_tax_code(
        ctx, detail.get("TaxCodeRef"), amount, totals, discountable=False
    )
    totals.shipping += amount
    return out


def _build_lines(ctx: WriteContext, data: Json, existing: Json | None) -> tuple[list[Json], Totals]:
    """The stored lines, in the order sent, and what they add up to.

    SubTotalLineDetail lines are QBO's own (recomputed, one at the end, never in
    TotalAmt); DescriptionOnly lines keep their Description and book no amount (an
    Amount sent is dropped); an invoice of description lines only is valid (quickbooks-
    ruby fixture invoice_line_item_description_only.xml: one DescriptionOnly line and a
    SubTotalLine of 0). Discounts are computed after every sales line is known.
    """
    lines = data.get("Line")
    if not isinstance(lines, list) or not lines:
        raise faults.required_param("Line")
    existing_ids = {str(x["Id"]) for x in (existing or {}).get("Line", []) if "Id" in x}
    next_id = [max((int(i) for i in existing_ids), default=0)]
    totals = Totals()
    built: list[Json] = []
    discounts: list[tuple[Json, Json]] = []
    for line in lines:
        if not isinstance(line, dict):
            raise faults.required_param("Line")
        detail_type = line.get("DetailType")
        if not detail_type:
            raise faults.required_param("Line.DetailType")
        if detail_type not in LINE_DETAIL_TYPES:
            raise faults.invalid_enum("Line.DetailType", str(detail_type))
        if detail_type == "SubTotalLineDetail":
            continue  # server-made; recomputed below
        if detail_type == "DiscountLineDetail" and not ctx.company.sales.allow_discount:
            continue  # see _discount_line
        out: Json = {"Id": _line_id(line, existing_ids, next_id), "LineNum": len(built) + 1}
        if line.get("Description") is not None:
            check_length("Line.Description", line["Description"], 4000)
            out["Description"] = line["Description"]
        if detail_type == "SalesItemLineDetail":
            detail, amount = _sales_line(ctx, line, totals)
            out["Amount"] = money(amount)
            out.update({"DetailType": detail_type, "SalesItemLineDetail": detail})
        elif detail_type == "DescriptionOnly":
            out.update({"DetailType": detail_type})
            out["DescriptionLineDetail"] = _description_detail(line)
        elif detail_type == "DiscountLineDetail":
            discounts.append((out, line))
        else:
            raise faults.business_validation(f"Line type {detail_type} is not valid on an invoice.")
        built.append(out)
    for out, line in discounts:
        out.update(_discount_line(ctx, line, totals))
    built.append(
        {
            "Amount": money(totals.subtotal),
            "DetailType": "SubTotalLineDetail",
            "SubTotalLineDetail": {},
        }
    )
    return built, totals


def _description_detail(line: Json) -> Json:
    detail = line.get("DescriptionLineDetail")
    return dict(detail) if isinstance(detail, dict) else {}


def _discount_line(ctx: WriteContext, line: Json, totals: Totals) -> Json:
    """A discount on the invoice's subtotal (every sales line, wherever the discount line
    stands; shipping excluded).

    PercentBased with DiscountPercent takes that share of the subtotal, rounded to the
    cent (recorded: 10% of 50.00 is Amount 5.00, quickbooks-ruby fixture
    invoice_with_discount_line_item_response.xml); an Amount sent with it must agree,
    else 6000 "You can't set both an amount and a discount percentage if the amount is
    not the sum of the discount percentage and the subtotal." (the message QBO answered,
    EduSource/QuickBooks.Net issue #11; code 6000 UNCONFIRMED). Otherwise Amount is the
    discount. DiscountAccountRef and ClassRef are optional and checked (2500/610).

    When Preferences.SalesFormsPrefs.AllowDiscount is false the line is dropped without
    a Fault (UNCONFIRMED; integrators report discount lines "silently dropped" or
    "completely ignored" with no error: ruckus/quickbooks-ruby issue #267,
    QuickBooks-V3-PHP-SDK issue #120) - see `_build_lines`.
    """
    detail = dict(line.get("DiscountLineDetail") or {})
    for key, entity in (("DiscountAccountRef", "Account"), ("ClassRef", "Class")):
        ref = optional_ref(ctx.company, entity, detail, key, f"Line.DiscountLineDetail.{key}")
        if ref is not None:
            detail[key] = ref
    percent_based = detail.get("PercentBased") is True or str(detail.get("PercentBased")) == "true"
    given = decimal_of(line, "Amount", "Line.Amount")
    if percent_based:
        percent = decimal_of(detail, "DiscountPercent", "Line.DiscountLineDetail.DiscountPercent")
        if percent is None:
            raise faults.required_param("Line.DiscountLineDetail.DiscountPercent")
        if percent < 0 or percent > 100:
            raise faults.business_validation("The discount percentage must be between 0 and 100.")
        amount = money(cents(totals.subtotal * percent / 100))
        if given is not None and abs(given - amount) > HALF_CENT:
            raise faults.business_validation(
                "You can't set both an amount and a discount percentage if the amount is "
                "not the sum of the discount percentage and the subtotal."
            )
        detail["PercentBased"] = True
        detail["DiscountPercent"] = plain_number(percent)
    else:
        if given is None:
            raise faults.business_validation("Discount amount or percent should be provided.")
        amount = money(given)
    if amount < 0 or totals.discount + amount > totals.subtotal:
        raise faults.business_validation("The discount amount can't be greater than the subtotal")
    totals.discount += amount
    return {"Amount": amount, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}


def _doc_number(ctx: WriteContext, data: Json, existing: Json | None) -> str | None:
    given = data.get("DocNumber")
    if given not in (None, ""):
        given = str(given)
        check_length("DocNumber", given, 21)
        if ctx.company.custom_txn_numbers and not ctx.allow_duplicate_doc_number:
            own_id = existing["Id"] if existing else None
            for other_id, other in ctx.company.table("Invoice").items():
                if other_id != own_id and other.get("DocNumber") == given:
                    raise faults.duplicate_doc_number(given, "Invoice", other_id)
        return given
    if existing is not None and existing.get("DocNumber"):
        return str(existing["DocNumber"])
    if ctx.company.custom_txn_numbers:
        return None  # custom numbering on and none sent: QBO leaves it empty
    number = ctx.company.next_doc_number
    ctx.company.next_doc_number += 1
    return str(number)


def _date(data: Json, key: str, default: date) -> str:
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


def build_invoice(ctx: WriteContext, data: Json, existing: Json | None) -> Json:
    """Validate an invoice as QBO would and build the stored record with its totals.

    Raises 2010, 2020 (CustomerRef, Line, BillEmail), 2210 (e-mail), 2500/610 (a reference
    to a customer, item, tax code, class, department, term or discount account that is
    missing or inactive), 6070 (Amount vs Qty x UnitPrice), 6100 (US tax code), 6140
    (DocNumber), 2050, 6000 (discounts, currency).
    Without a DueDate the invoice is due TxnDate + the term's DueDays (Intuit's Invoice
    reference: "If date is not provided, the number of days specified in SalesTermRef
    added the transaction date will be used"), else 30 days after TxnDate.
    TotalAmt = sales lines - discounts + shipping + tax (tax only when TaxExcluded; US
    amounts are always tax-excluded); the SubTotalLine is not added (Invoice reference:
    SubTotalLine "Subtotal of all the lines", TotalAmt "Indicates the total amount of the
    transaction. This includes the total of all the charges, allowances, and taxes").
    """
    check_properties("Invoice", data)
    if data.get("CustomerRef") is None:
        raise faults.required_param("CustomerRef")
    customer = resolve_ref(ctx.company, "Customer", data["CustomerRef"], "CustomerRef")
    lines, totals = _build_lines(ctx, data, existing)
    refs = _header_refs(ctx, data)
    global_tax = data.get("GlobalTaxCalculation")
    if global_tax is not None and global_tax not in GLOBAL_TAX_VALUES:
        raise faults.invalid_enum("GlobalTaxCalculation", str(global_tax))
    # GlobalTaxCalculation is "Not applicable to US companies" (Invoice reference).
    global_tax = None if ctx.company.is_us else str(global_tax or "TaxExcluded")
    addresses: Json = {}
    for addr in ("BillAddr", "ShipAddr"):
        source = data.get(addr) if isinstance(data.get(addr), dict) else customer.get(addr)
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
    total = money(total)
    applied = applied_to_invoice(ctx.company, existing["Id"]) if existing else Decimal(0)
    if applied > total:
        raise faults.business_validation(
            "The invoice total can't be less than the payments applied to it."
        )
    currency, rate = transaction_currency(ctx, data, customer)
    txn_date = _date(data, "TxnDate", ctx.today)
    sync_token, meta = next_version(existing, ctx.stamp)
    record: Json = {
        "AllowIPNPayment": False,
        "AllowOnlinePayment": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
        "domain": "QBO",
        "sparse": False,
        "Id": existing["Id"] if existing else ctx.company.new_id("Invoice"),
        "SyncToken": sync_token,
        "MetaData": meta,
    }
    custom = custom_fields(ctx, data)
    if custom:
        record["CustomField"] = custom
    doc_number = _doc_number(ctx, data, existing)
    if doc_number is not None:
        record["DocNumber"] = doc_number
    record["TxnDate"] = txn_date
    record["CurrencyRef"] = currency
    if rate is not None:
        record["ExchangeRate"] = plain_number(rate)
    if data.get("PrivateNote") is not None:
        check_length("PrivateNote", data["PrivateNote"], 4000)
        record["PrivateNote"] = data["PrivateNote"]
    record["LinkedTxn"] = existing.get("LinkedTxn", []) if existing else []
    record["Line"] = lines
    record["TxnTaxDetail"] = txn_tax
    # A job's DisplayName, not its FullyQualifiedName: quickbooks-ruby fixture budgets.xml
    # names the job "0969 Ocean View Road" in CustomerRef (the customer list has
    # "Freeman Sporting Goods:0969 Ocean View Road"); that invoices do so is UNCONFIRMED.
    record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
    memo = _customer_memo(data)
    if memo is not None:
        record["CustomerMemo"] = memo
    record.update(addresses)
    if data.get("ShipDate") not in (None, ""):
        record["ShipDate"] = _date(data, "ShipDate", ctx.today)
    record["DueDate"] = _date(data, "DueDate", _due_by_default(ctx, txn_date, refs))
    record["TotalAmt"] = total
    if rate is not None:
        record["HomeTotalAmt"] = money(cents(total * rate))
    record["ApplyTaxAfterDiscount"] = after_discount
    record["PrintStatus"] = data.get("PrintStatus", "NeedToPrint")
    record["EmailStatus"] = data.get("EmailStatus", "NotSet")
    record.update(_emails(data))
    record["Balance"] = money(total - applied)
    if rate is not None:
        record["HomeBalance"] = money(cents(record["Balance"] * rate))
    if global_tax is not None:
        record["GlobalTaxCalculation"] = global_tax
    record.update(refs)
    passthrough(record, data, HANDLED)
    return record


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
    ctx: WriteContext, data: Json, customer: Json
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
    is sent (the emulator's long-standing behaviour; QBO's answer UNCONFIRMED).
    """
    code, name = ctx.company.currency
    home = {"value": code, "name": name}
    if not ctx.company.sales.multicurrency:
        return home, None
    own = customer.get("CurrencyRef") or home
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


def _customer_memo(data: Json) -> Json | None:
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


def _emails(data: Json) -> Json:
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


def _header_refs(ctx: WriteContext, data: Json) -> Json:
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


def _due_by_default(ctx: WriteContext, txn_date: str, refs: Json) -> date:
    days = 30
    term_ref = refs.get("SalesTermRef")
    if term_ref is not None:
        term = ctx.company.get("Term", term_ref["value"]) or {}
        days = int(term.get("DueDays") or 0)
    return date.fromisoformat(txn_date) + timedelta(days=days)


def check_unlinked(ctx: WriteContext, invoice: Json, action: str) -> None:
    """QBO refuses to delete or void an invoice that payments are applied to (6000)."""
    if applied_to_invoice(ctx.company, invoice["Id"]) > 0:
        raise faults.business_validation(
            f"This transaction is linked to payments. Unlink them before you {action} it."
        )


def delete_invoice(ctx: WriteContext, invoice: Json) -> Json:
    """Delete (tombstone kept for CDC); answers QBO's `status: Deleted` stub."""
    check_unlinked(ctx, invoice, "delete")
    ctx.company.remove("Invoice", invoice["Id"], ctx.store.now())
    refresh_customer(ctx.company, ref_value(invoice.get("CustomerRef")), ctx.stamp)
    return {"domain": "QBO", "status": "Deleted", "Id": invoice["Id"]}


def void_invoice(ctx: WriteContext, invoice: Json) -> Json:
    """Void in place: amounts to zero, "Voided" prepended to PrivateNote, SyncToken + 1."""
    check_unlinked(ctx, invoice, "void")
    for line in invoice["Line"]:
        line["Amount"] = Decimal(0)
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict) and "Qty" in detail:
            detail["Qty"] = Decimal(0)
    note = invoice.get("PrivateNote")
    invoice["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    invoice["TxnTaxDetail"] = {"TotalTax": Decimal(0)}
    invoice["TotalAmt"] = Decimal(0)
    invoice["Balance"] = Decimal(0)
    for home in ("HomeTotalAmt", "HomeBalance"):
        if home in invoice:
            invoice[home] = Decimal(0)
    bump(invoice, ctx.stamp)
    ctx.company.put("Invoice", invoice, operation="Void")
    refresh_customer(ctx.company, ref_value(invoice.get("CustomerRef")), ctx.stamp)
    return invoice
