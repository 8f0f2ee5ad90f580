"""Invoice: lines and their arithmetic, tax, DocNumber, totals, delete and void."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.emulator import faults
from app.emulator.balances import applied_to_invoice, refresh_customer
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    bump,
    check_length,
    check_properties,
    decimal_of,
    next_version,
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
US_TAX_CODES = frozenset({"TAX", "NON"})
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
    }
)


class _Totals:
    def __init__(self) -> None:
        self.subtotal = Decimal(0)
        self.discount = Decimal(0)
        self.tax = Decimal(0)
        self.taxable_base: dict[str, Decimal] = {}


def _line_id(line: Json, existing_ids: set[str], next_id: list[int]) -> str:
    """Keep a line Id the invoice already has; any other line is new (QBO's rule)."""
    given = str(line.get("Id", ""))
    if given in existing_ids:
        return given
    next_id[0] += 1
    return str(next_id[0])


def _sales_line(ctx: WriteContext, line: Json, totals: _Totals) -> tuple[Json, Decimal]:
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
    out["TaxCodeRef"] = _tax_code(ctx, detail.get("TaxCodeRef"), amount, totals)
    for key, value in detail.items():
        if key not in out:
            out[key] = value
    totals.subtotal += amount
    return out, amount


def _tax_code(ctx: WriteContext, ref: Any, amount: Decimal, totals: _Totals) -> Json:
    value = ref_value(ref)
    if ctx.company.is_us:
        value = value or "NON"
        if value not in US_TAX_CODES:
            raise faults.invalid_line_tax_code(value)
        return {"value": value}
    if value is None:
        what = "GST/HST" if ctx.company.country == "CA" else "VAT"
        raise faults.business_validation(
            f"Make sure all your transactions have a {what} rate before you save."
        )
    tax_code = resolve_ref(ctx.company, "TaxCode", ref, "Line.SalesItemLineDetail.TaxCodeRef")
    totals.taxable_base[tax_code["Id"]] = totals.taxable_base.get(tax_code["Id"], Decimal(0)) + (
        amount
    )
    return {"value": tax_code["Id"]}


def _build_lines(
    ctx: WriteContext, data: Json, existing: Json | None
) -> tuple[list[Json], _Totals]:
    lines = data.get("Line")
    if not isinstance(lines, list) or not lines:
        raise faults.required_param("Line")
    existing_ids = {str(x["Id"]) for x in (existing or {}).get("Line", []) if "Id" in x}
    next_id = [max((int(i) for i in existing_ids), default=0)]
    totals = _Totals()
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
            out.update(_discount_line(line, totals))
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


def _discount_line(line: Json, totals: _Totals) -> Json:
    detail = line.get("DiscountLineDetail") or {}
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

    Raises 2010, 2020 (CustomerRef, Line), 2500/610 (customer, item, tax code),
    6070 (Amount vs Qty x UnitPrice), 6100 (US tax code), 6140 (DocNumber), 2050.
    """
    check_properties("Invoice", data)
    if data.get("CustomerRef") is None:
        raise faults.required_param("CustomerRef")
    customer = resolve_ref(ctx.company, "Customer", data["CustomerRef"], "CustomerRef")
    lines, totals = _build_lines(ctx, data, existing)
    global_tax = data.get("GlobalTaxCalculation")
    if global_tax is not None and global_tax not in GLOBAL_TAX_VALUES:
        raise faults.invalid_enum("GlobalTaxCalculation", str(global_tax))
    tax_detail: Json = {"TotalTax": Decimal(0)}
    if not ctx.company.is_us:
        global_tax = global_tax or "TaxExcluded"
        tax_detail = _tax_detail(ctx, totals, str(global_tax))
        totals.tax = tax_detail["TotalTax"]
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
    record["TxnTaxDetail"] = tax_detail
    record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
    for addr in ("BillAddr", "ShipAddr"):
        source = data.get(addr) if isinstance(data.get(addr), dict) else customer.get(addr)
        if isinstance(source, dict):
            record[addr] = source
    record["DueDate"] = _date(data, "DueDate", date.fromisoformat(txn_date) + timedelta(days=30))
    record["TotalAmt"] = total
    record["ApplyTaxAfterDiscount"] = bool(data.get("ApplyTaxAfterDiscount", False))
    record["PrintStatus"] = data.get("PrintStatus", "NeedToPrint")
    record["EmailStatus"] = data.get("EmailStatus", "NotSet")
    record["Balance"] = money(total - applied)
    if not ctx.company.is_us:
        record["GlobalTaxCalculation"] = global_tax
    passthrough(record, data, HANDLED)
    return record


def _tax_detail(ctx: WriteContext, totals: _Totals, global_tax: str) -> Json:
    if global_tax == "NotApplicable":
        return {"TotalTax": Decimal(0)}
    tax_lines: list[Json] = []
    total_tax = Decimal(0)
    for code_id, base in totals.taxable_base.items():
        rate = ctx.company.tax_rates.get(code_id, Decimal(0))
        if global_tax == "TaxInclusive":
            net = money(base * 100 / (100 + rate))
            tax = money(base - net)
        else:
            net, tax = money(base), money(base * rate / 100)
        total_tax += tax
        tax_lines.append(
            {
                "Amount": tax,
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": code_id},
                    "PercentBased": True,
                    "TaxPercent": plain_number(rate),
                    "NetAmountTaxable": net,
                },
            }
        )
    return {"TotalTax": money(total_tax), "TaxLine": tax_lines}


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
