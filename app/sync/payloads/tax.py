"""An invoice's tax, discount and shipping as QBO takes them, and the totals the caller
expects QBO to book: pure functions, no I/O.

What Intuit does, per rule (S-numbers as in ../shared/qbo-facts.md):

- US companies with automated sales tax (AST, `Preferences.TaxPrefs.PartnerTaxEnabled`)
  have the code and rate chosen from the ship-to address (the company's address without
  one) and read only taxable / non-taxable from each line; "Whenever an explicit tax amount
  is sent in the transaction request the AST engine honors the amount and prorates it
  across tax rates" (Intuit blog 2017-12-11, "Using QuickBooks Online API for automated
  sales tax"). So the caller's `tax_total` goes as `TxnTaxDetail.TotalTax`.
- US companies without AST tax the TAX lines at the code or group in
  `TxnTaxDetail.TxnTaxCodeRef`, and nothing without one ("Manage sales tax for US
  locales"); an explicit `TotalTax` is honoured (Invoice reference [S20], TxnTaxDetail:
  "you may supply it when adding a transaction").
- Outside the US every line names a TaxCode with rates and `GlobalTaxCalculation` says
  whether amounts include tax; QBO computes one TaxLine per rate, rounding each line's tax
  ("Manage sales tax for non-US locales"). An override sends `TotalTax` and one TaxLine per
  rate with TaxRateRef, Amount and TaxPercent, all rates of each code used: the caller's
  tax then lands to the cent instead of QBO's line-by-line rounding.
- "If sales tax is disabled (Preferences.TaxPrefs.UsingSalesTax is set to false) then
  TxnTaxDetail is ignored and not stored" (Invoice reference): a caller's tax is refused
  there rather than dropped.
- Discount lines (`DiscountLineDetail`) and the shipping line (`SHIPPING_ITEM_ID`) exist
  only where `Preferences.SalesFormsPrefs.AllowDiscount` / `AllowShipping` are on;
  otherwise QBO drops the discount line silently (ruckus/quickbooks-ruby issue #267,
  QuickBooks-V3-PHP-SDK issue #120) and refuses the shipping item. Both are refused here
  first, naming the preference.
- TotalAmt is "the total amount of the transaction. This includes the total of all the
  charges, allowances, and taxes" (Invoice reference): item lines - discount + shipping +
  tax, the tax only when amounts exclude it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.events.fields import CENT
from app.events.schemas import SalesFormData
from app.sync.payloads.context import CompanyContext, NameLists, PayloadError, resolve_name

Json = dict[str, Any]
ZERO = Decimal(0)
US_TAX_CODES = frozenset({"TAX", "NON"})
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TaxedPart:
    """One amount of the invoice that carries a tax code: an item line or shipping."""

    field: str  # where the event names it, for errors: "lines[2]", "shipping"
    amount: Decimal
    code: str  # TAX / NON in the US, a TaxCode Id elsewhere
    tax_amount: Decimal | None


def inclusive(data: SalesFormData, ctx: CompanyContext) -> bool:
    """Whether the invoice's amounts include tax (never in the US)."""
    if ctx.is_us:
        return False
    if data.tax_inclusive is not None:
        return data.tax_inclusive
    return ctx.global_tax_calculation == "TaxInclusive"


def global_tax_calculation(data: SalesFormData, ctx: CompanyContext) -> str:
    """The invoice's GlobalTaxCalculation: the event's `tax_inclusive`, else the company's
    settings. Raises PayloadError for a tax-inclusive US invoice: "Not applicable to US
    companies" (Invoice reference, GlobalTaxCalculation), QBO would book it exclusive."""
    if ctx.is_us and data.tax_inclusive:
        raise PayloadError("tax_inclusive: US invoice amounts always exclude tax")
    if data.tax_inclusive is None:
        return ctx.global_tax_calculation
    return "TaxInclusive" if data.tax_inclusive else "TaxExcluded"


def line_code(
    code: str | None, taxable: bool | None, ctx: CompanyContext, names: NameLists, field: str
) -> str:
    """A line's TaxCodeRef value: TAX/NON in the US (from `taxable` or the code; default as
    the company's `default_taxable` says), elsewhere the Id of the company's TaxCode the
    line names by Id or name (default: the settings' tax code).

    Raises PayloadError for anything QBO would refuse (6100 in the US, a missing or unknown
    code elsewhere)."""
    if ctx.is_us:
        if taxable is not None:
            return "TAX" if taxable else "NON"
        value = (code or ("TAX" if ctx.default_taxable else "NON")).strip().upper()
        if value not in US_TAX_CODES:
            raise PayloadError(f"{field}.tax_code: US lines take TAX or NON, not {code!r}")
        return value
    if taxable is not None:
        raise PayloadError(
            f"{field}.taxable: non-US lines name their tax_code (the company's exempt or"
            " zero-rated code for an untaxed line)"
        )
    value = (code or ctx.default_tax_code_id or "").strip()
    if not value:
        raise PayloadError(
            f"{field}.tax_code: a non-US line needs a tax code and the company's settings"
            " set no tax_code_id"
        )
    return _company_code(value, names, f"{field}.tax_code")


def _company_code(value: str, names: NameLists, field: str) -> str:
    """The Id of the company's TaxCode `value` names (Id or name) in `names`; an Id as it
    is when the list was not looked up (the lookups read it only where a name needs it).
    Raises PayloadError naming `field` for one the company lacks."""
    if names.tax_codes:
        found = resolve_name(names.tax_codes, value)
    else:
        found = value if value.isdigit() else None
    if found is None:
        raise PayloadError(f"{field}: {value!r} is not one of the company's tax codes")
    return found


def txn_tax_code(data: SalesFormData, ctx: CompanyContext, names: NameLists) -> str | None:
    """The TxnTaxCodeRef of a US invoice without AST: the invoice's `tax_code`, else the
    settings' tax code; None when neither names one. Raises PayloadError for a code the
    company lacks, or one named where QBO would override or ignore it."""
    if data.tax_code is None:
        return ctx.default_tax_code_id if ctx.is_us and not ctx.automated_sales_tax else None
    if not ctx.is_us:
        raise PayloadError("tax_code: non-US invoices name a tax code per line")
    if ctx.automated_sales_tax:
        raise PayloadError(
            "tax_code: the company uses automated sales tax, which chooses the code from the"
            " ship-to address (Preferences.TaxPrefs.PartnerTaxEnabled); send tax_total instead"
        )
    return _company_code(data.tax_code, names, "tax_code")


def tax_detail(
    data: SalesFormData,
    ctx: CompanyContext,
    names: NameLists,
    parts: Sequence[TaxedPart],
) -> Json | None:
    """The invoice's `TxnTaxDetail`, or None to let QBO compute it (see the module
    docstring for each rule). Raises PayloadError where QBO would drop the caller's tax."""
    total = data.tax_total
    code = txn_tax_code(data, ctx, names) if ctx.is_us else None
    if total is not None and total > 0:
        if not ctx.using_sales_tax:
            raise PayloadError(
                "tax_total: the company does not use sales tax in QBO"
                " (Preferences.TaxPrefs.UsingSalesTax), which would drop the tax"
            )
        if not ctx.is_us and global_tax_calculation(data, ctx) == "NotApplicable":
            raise PayloadError(
                "tax_total: the company's GlobalTaxCalculation is NotApplicable, so QBO"
                " books no tax on its invoices"
            )
    if ctx.is_us:
        if ctx.automated_sales_tax:
            return None if total is None else {"TotalTax": total}
        if code is None:
            if total is not None and total > 0:
                raise PayloadError(
                    "tax_total: a US company without automated sales tax books tax only at a"
                    " sales tax code: name the invoice's tax_code or set the company's"
                    " tax_code_id"
                )
            return None
        detail: Json = {"TxnTaxCodeRef": {"value": code}}
        if total is not None:
            detail["TotalTax"] = total
        return detail
    if total is None:
        return None
    lines = _rate_lines(total, parts, names.code_rates, inclusive(data, ctx))
    if lines is None:
        return {"TotalTax": total}
    return {"TotalTax": total, "TaxLine": lines}


def _rate_lines(
    total: Decimal,
    parts: Sequence[TaxedPart],
    code_rates: Mapping[str, tuple[tuple[str, Decimal], ...]],
    tax_included: bool,
) -> list[Json] | None:
    """One TaxLine per rate of every code the invoice uses, adding up to `total`: the
    caller's per-line tax where every taxed part carries one (each code's share spread
    over its rates by percent), else `total` spread by the tax each rate would take.
    None when a code's rates are unknown (QBO then computes them)."""
    codes = {part.code for part in parts}
    if not codes or any(code not in code_rates for code in codes):
        return None
    rates: dict[str, Decimal] = {}  # rate id -> percent, in first-seen order
    shares: dict[str, Decimal] = {}
    for code in sorted(codes, key=lambda c: (len(c), c)):
        for rate_id, percent in code_rates[code]:
            rates.setdefault(rate_id, percent)
            shares.setdefault(rate_id, ZERO)
    if all(part.tax_amount is not None for part in parts):
        for code in sorted(codes, key=lambda c: (len(c), c)):
            owed = sum((p.tax_amount or ZERO for p in parts if p.code == code), ZERO)
            weights = {rate_id: percent for rate_id, percent in code_rates[code]}
            for rate_id, share in _spread(owed, weights).items():
                shares[rate_id] += share
    else:
        weights = dict.fromkeys(rates, ZERO)
        for part in parts:
            code_percent = sum((p for _, p in code_rates[part.code]), ZERO)
            base = part.amount * 100 / (100 + code_percent) if tax_included else part.amount
            for rate_id, percent in code_rates[part.code]:
                weights[rate_id] += base * percent
        if total > 0 and not any(weights.values()):
            raise PayloadError("tax_total: the tax codes of the invoice's lines carry no rate")
        shares = _spread(total, weights)
    return [
        {
            "Amount": shares.get(rate_id, ZERO),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate_id},
                "PercentBased": True,
                "TaxPercent": percent,
            },
        }
        for rate_id, percent in rates.items()
    ]


def _spread(amount: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """`amount` in cents over the keys by weight; the last weighted key takes what rounding
    leaves, so the shares add up to `amount` exactly."""
    keys = list(weights)
    whole = sum(weights.values(), ZERO)
    out = dict.fromkeys(keys, ZERO)
    weighted = [k for k in keys if weights[k]]
    if not weighted or not whole:
        if keys:
            out[keys[-1]] = amount
        return out
    left = amount
    for key in weighted[:-1]:
        share = cents(amount * weights[key] / whole)
        out[key] = share
        left -= share
    out[weighted[-1]] = left
    return out


def discount_amount(data: SalesFormData) -> Decimal:
    """The discount in money: its amount, or its percent of the item lines, to the cent
    (as QBO computes a percent discount: 10% of 50.00 is 5.00)."""
    if data.discount is None:
        return ZERO
    if data.discount.amount is not None:
        return data.discount.amount
    assert data.discount.percent is not None
    return cents(data.total * data.discount.percent / 100)


def discount_line(data: SalesFormData, ctx: CompanyContext, *, as_amount: bool) -> Json | None:
    """The invoice's DiscountLineDetail line, with the company's discount account when its
    settings name one. A percent goes as a percent unless `as_amount` (shipping sent as an
    ordinary item line, which QBO would discount too). Raises PayloadError where QBO would
    drop it (AllowDiscount off) or the discount exceeds the item lines."""
    discount = data.discount
    if discount is None:
        return None
    if not ctx.allow_discount:
        raise PayloadError(
            "discount: the company has not turned on discounts in QBO"
            " (Preferences.SalesFormsPrefs.AllowDiscount), which would drop the discount line"
        )
    amount = discount_amount(data)
    if amount > data.total:
        raise PayloadError(f"discount: {amount} is more than the item lines' sum {data.total}")
    detail: Json = {"PercentBased": discount.percent is not None and not as_amount}
    if discount.percent is not None and not as_amount:
        detail["DiscountPercent"] = discount.percent
    if ctx.discount_account_id is not None:
        detail["DiscountAccountRef"] = {"value": ctx.discount_account_id}
    return {"DetailType": "DiscountLineDetail", "Amount": amount, "DiscountLineDetail": detail}


def shipping_line(data: SalesFormData, item_id: str, code: str) -> Json:
    """The shipping charge as a sales line of `item_id` (see `shipping_item`): QBO's
    shipping line, or one unit of the company's shipping item at the charge. `code` is its
    TaxCodeRef value."""
    assert data.shipping is not None
    amount = data.shipping.amount
    detail: Json = {"ItemRef": {"value": item_id}}
    if item_id != SHIPPING_ITEM_ID:
        detail.update({"Qty": Decimal(1), "UnitPrice": amount})
    detail["TaxCodeRef"] = {"value": code}
    return {"DetailType": "SalesItemLineDetail", "Amount": amount, "SalesItemLineDetail": detail}


def shipping_item(ctx: CompanyContext) -> str:
    """The ItemRef of the invoice's shipping charge. Raises PayloadError when the company
    allows no shipping line and names no shipping item."""
    if ctx.allow_shipping:
        return SHIPPING_ITEM_ID
    if ctx.shipping_item_id is not None:
        return ctx.shipping_item_id
    raise PayloadError(
        "shipping: the company has not turned on shipping in QBO"
        " (Preferences.SalesFormsPrefs.AllowShipping) and its settings name no"
        " shipping_item_id"
    )


@dataclass(frozen=True, slots=True)
class Booked:
    """An invoice's total and tax: as the caller expects them, or as QBO booked them."""

    total: Decimal
    tax: Decimal | None


def expected(data: SalesFormData, ctx: CompanyContext, booked_tax: Decimal) -> Booked:
    """What the caller's invoice adds up to: item lines - discount + shipping, plus its
    `tax_total` when amounts exclude tax. Without a `tax_total` the caller left the tax to
    QBO: the total is then expected to be what it booked as tax on top."""
    net = data.total - discount_amount(data) + (data.shipping.amount if data.shipping else ZERO)
    tax = data.tax_total
    if inclusive(data, ctx):
        return Booked(net, tax)
    return Booked(net + (booked_tax if tax is None else tax), tax)


def mismatch(
    data: SalesFormData, ctx: CompanyContext, record: Mapping[str, Any], tolerance: Decimal
) -> Json | None:
    """How QBO's booked `TotalAmt` and `TxnTaxDetail.TotalTax` differ from the caller's
    invoice by more than `tolerance`, or None. JSON-ready: amounts as strings.

    `{"expected": {"total", "tax"}, "booked": {"total", "tax"}, "difference": {"total",
    "tax"}, "tolerance"}`; the expected tax is null when the caller sent no `tax_total`,
    and the difference is booked minus expected."""
    booked_total = _decimal(record.get("TotalAmt"))
    detail = record.get("TxnTaxDetail")
    booked_tax = _decimal(detail.get("TotalTax") if isinstance(detail, Mapping) else None)
    booked_total = booked_total if booked_total is not None else ZERO
    booked_tax = booked_tax if booked_tax is not None else ZERO
    want = expected(data, ctx, booked_tax)
    total_off = booked_total - want.total
    tax_off = None if want.tax is None else booked_tax - want.tax
    if abs(total_off) <= tolerance and (tax_off is None or abs(tax_off) <= tolerance):
        return None
    return {
        "expected": {"total": str(want.total), "tax": _text(want.tax)},
        "booked": {"total": str(booked_total), "tax": str(booked_tax)},
        "difference": {"total": str(total_off), "tax": _text(tax_off)},
        "tolerance": str(tolerance),
    }


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
