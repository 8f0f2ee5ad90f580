"""Invoice tax: line TaxCodeRefs (TAX/NON in the US, TaxCode Ids elsewhere) and the
TxnTaxDetail computed from the rates of the codes used."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.emulator import faults
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import Json, WriteContext, ref_value, resolve_ref

US_TAX_CODES = frozenset({"TAX", "NON"})


class Totals:
    """What the lines of one invoice add up to; `taxable_base` is per TaxCode Id."""

    def __init__(self) -> None:
        self.subtotal = Decimal(0)
        self.discount = Decimal(0)
        self.tax = Decimal(0)
        self.taxable_base: dict[str, Decimal] = {}


def line_tax_code(ctx: WriteContext, ref: Any, amount: Decimal, totals: Totals) -> Json:
    """A sales line's TaxCodeRef as stored; adds `amount` to the code's taxable base.

    US: TAX or NON (default NON), else 6100. Elsewhere a TaxCode Id is required (6000)
    and must exist (2500) and be active (610).
    """
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


def tax_detail(ctx: WriteContext, totals: Totals, global_tax: str) -> Json:
    """TxnTaxDetail of a non-US invoice: one TaxLine per code used, at the code's rate
    (`company.tax_rates`), on amounts that exclude or include tax."""
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
                    "TaxRateRef": {"value": _sales_rate_id(ctx, code_id)},
                    "PercentBased": True,
                    "TaxPercent": plain_number(rate),
                    "NetAmountTaxable": net,
                },
            }
        )
    return {"TotalTax": money(total_tax), "TaxLine": tax_lines}


def _sales_rate_id(ctx: WriteContext, code_id: str) -> str:
    """The TaxRate a code charges on sales (the first of its SalesTaxRateList); the code's
    own Id for a company stored before tax codes had rate lists."""
    code = ctx.company.get("TaxCode", code_id) or {}
    details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    rate_id = ref_value(details[0].get("TaxRateRef")) if details else None
    return rate_id or code_id
