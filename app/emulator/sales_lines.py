"""The lines of a sales form (invoice, credit memo, sales receipt, refund receipt): sales
item lines, description lines, discounts, shipping and the SubTotalLine, with what they
add up to. The tax on them is `app.emulator.invoice_tax`; the header is
`app.emulator.sales_forms`.

Every sales form shares these rules: Intuit's XSD gives CreditMemo, SalesReceipt and
RefundReceipt the same `Line` (SalesTransaction) as Invoice, and the recorded forms show
the same shapes (quickbooks-ruby fixtures fetch_credit_memo.xml, refund_receipt.xml,
sales_receipt.xml: SalesItemLineDetail lines then one SubTotalLineDetail; qbo_api-vcr
all__sales_receipts: a DiscountLineDetail with DiscountPercent on sales receipt 38).
That QBO checks each form's lines exactly as an invoice's is UNCONFIRMED.
"""

from __future__ import annotations

from decimal import Decimal

from app.emulator import faults
from app.emulator.invoice_tax import Totals, cents, line_tax_code
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import (
    Json,
    WriteContext,
    check_length,
    decimal_of,
    optional_ref,
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


def build_lines(
    ctx: WriteContext, data: Json, existing: Json | None, form: str = "an invoice"
) -> tuple[list[Json], Totals]:
    """The stored lines of a sales form, in the order sent, and what they add up to.

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
            raise faults.business_validation(f"Line type {detail_type} is not valid on {form}.")
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
