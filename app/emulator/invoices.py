"""Invoice: lines and their arithmetic, tax, DocNumber, totals, delete and void."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.emulator import faults
from app.emulator.balances import applied_to_invoice, refresh_customer
from app.emulator.invoice_tax import Totals, line_tax_code, tax_detail
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
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


def _build_lines(ctx: WriteContext, data: Json, existing: Json | None) -> tuple[list[Json], Totals]:
    lines = data.get("Line")
    if not isinstance(lines, list) or not lines:
        raise faults.required_param("Line")
    existing_ids = {str(x["Id"]) for x in (existing or {}).get("Line", []) if "Id" in x}
    next_id = [max((int(i) for i in existing_ids), default=0)]
    totals = Totals()
    built: list[Json] = []
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
            out["DescriptionLineDetail"] = line.get("DescriptionLineDetail") or {}
        elif detail_type == "DiscountLineDetail":
            out.update(_discount_line(ctx, line, totals))
        else:
            raise faults.business_validation(f"Line type {detail_type} is not valid on an invoice.")
        built.append(out)
    if not any(x.get("DetailType") == "SalesItemLineDetail" for x in built):
        raise faults.required_param("Line.SalesItemLineDetail")
    built.append(
        {
            "Amount": money(totals.subtotal),
            "DetailType": "SubTotalLineDetail",
            "SubTotalLineDetail": {},
        }
    )
    return built, totals


def _discount_line(ctx: WriteContext, line: Json, totals: Totals) -> Json:
    detail = dict(line.get("DiscountLineDetail") or {})
    for key, entity in (("DiscountAccountRef", "Account"), ("ClassRef", "Class")):
        ref = optional_ref(ctx.company, entity, detail, key, f"Line.DiscountLineDetail.{key}")
        if ref is not None:
            detail[key] = ref
    percent_based = bool(detail.get("PercentBased", False))
    if percent_based:
        percent = decimal_of(detail, "DiscountPercent", "Line.DiscountLineDetail.DiscountPercent")
        if percent is None:
            raise faults.required_param("Line.DiscountLineDetail.DiscountPercent")
        amount = money(totals.subtotal * percent / 100)
    else:
        given = decimal_of(line, "Amount", "Line.Amount")
        if given is None:
            raise faults.business_validation("Discount amount or percent should be provided.")
        amount = money(given)
    if amount > totals.subtotal:
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

    Raises 2010, 2020 (CustomerRef, Line), 2500/610 (a reference to a customer, item, tax
    code, class, department, term or discount account that is missing or inactive),
    6070 (Amount vs Qty x UnitPrice), 6100 (US tax code), 6140 (DocNumber), 2050.
    Without a DueDate the invoice is due TxnDate + the term's DueDays (Intuit's Invoice
    reference: "If date is not provided, the number of days specified in SalesTermRef
    added the transaction date will be used"), else 30 days after TxnDate.
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
    txn_tax: Json = {"TotalTax": Decimal(0)}
    if not ctx.company.is_us:
        global_tax = global_tax or "TaxExcluded"
        txn_tax = tax_detail(ctx, totals, str(global_tax))
        totals.tax = txn_tax["TotalTax"]
    total = totals.subtotal - totals.discount
    if global_tax == "TaxExcluded":
        total += totals.tax
    total = money(total)
    applied = applied_to_invoice(ctx.company, existing["Id"]) if existing else Decimal(0)
    if applied > total:
        raise faults.business_validation(
            "The invoice total can't be less than the payments applied to it."
        )
    txn_date = _date(data, "TxnDate", ctx.today)
    sync_token, meta = next_version(existing, ctx.stamp)
    code, currency_name = ctx.company.currency
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
    doc_number = _doc_number(ctx, data, existing)
    if doc_number is not None:
        record["DocNumber"] = doc_number
    record["TxnDate"] = txn_date
    record["CurrencyRef"] = {"value": code, "name": currency_name}
    if data.get("PrivateNote") is not None:
        check_length("PrivateNote", data["PrivateNote"], 4000)
        record["PrivateNote"] = data["PrivateNote"]
    record["LinkedTxn"] = existing.get("LinkedTxn", []) if existing else []
    record["Line"] = lines
    record["TxnTaxDetail"] = txn_tax
    record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
    for addr in ("BillAddr", "ShipAddr"):
        source = data.get(addr) if isinstance(data.get(addr), dict) else customer.get(addr)
        if isinstance(source, dict):
            record[addr] = source
    record["DueDate"] = _date(data, "DueDate", _due_by_default(ctx, txn_date, refs))
    record["TotalAmt"] = total
    record["ApplyTaxAfterDiscount"] = bool(data.get("ApplyTaxAfterDiscount", False))
    record["PrintStatus"] = data.get("PrintStatus", "NeedToPrint")
    record["EmailStatus"] = data.get("EmailStatus", "NotSet")
    record["Balance"] = money(total - applied)
    if not ctx.company.is_us:
        record["GlobalTaxCalculation"] = global_tax
    record.update(refs)
    passthrough(record, data, HANDLED)
    return record


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
    bump(invoice, ctx.stamp)
    ctx.company.put("Invoice", invoice, operation="Void")
    refresh_customer(ctx.company, ref_value(invoice.get("CustomerRef")), ctx.stamp)
    return invoice
