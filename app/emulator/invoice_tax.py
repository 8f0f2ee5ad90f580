"""Invoice tax: line TaxCodeRefs (TAX/NON in the US, TaxCode Ids elsewhere) and the
TxnTaxDetail, computed per tax rate or taken from the request where QBO honours it.

Sources, per rule (S-numbers as in ../shared/qbo-facts.md):

- Intuit Invoice reference [S20], TxnTaxDetail: "This can be calculated by QuickBooks
  business logic or you may supply it when adding a transaction. [...] If sales tax is
  disabled (Preferences.TaxPrefs.UsingSalesTax is set to false) then TxnTaxDetail is
  ignored and not stored." ApplyTaxAfterDiscount: "If false or null, calculate the sales
  tax first, and then apply the discount. If true, subtract the discount first and then
  calculate the sales tax."
- US with AST ("Manage sales tax for US locales"; Intuit blog 2017-12-11 "Using QuickBooks
  Online API for automated sales tax"): the rate follows the ship-to address (the
  company's address when the invoice has none); "The AST engine assigns the appropriate
  tax code"; "Whenever an explicit tax amount is sent in the transaction request the AST
  engine honors the amount and prorates it across tax rates in the AST-assigned tax
  code." A TxnTaxCodeRef the request names is overridden by AST (same blog: codes "can
  [be] assign[ed] on transactions but will be overridden by AST"). The rate table is in
  `app.emulator.seed_us_tax`.
- US without AST: tax only when TxnTaxDetail.TxnTaxCodeRef names one of the company's
  codes (a rate or a group), on the lines marked TAX ("Manage sales tax for US locales").
  An explicit TotalTax is honoured and prorated as with AST (Invoice reference: "you may
  supply it"; release note v2019, 2023-12-12: "Allow use of the tax override feature
  without company level restrictions") - the proration itself is UNCONFIRMED here.
- Outside the US ("Manage sales tax for non-US locales"): each line's TaxCode references
  rates in its SalesTaxRateList; TxnTaxDetail has one TaxLine per rate. Overriding takes
  "TxnTaxDetail.TotalTax and one TaxLine per rate with TaxRateRef, Amount and TaxPercent;
  You must send all TaxRateRefs of a TaxCode even if you are modifying just one of them"
  (that page as quoted in a public integration guide): a TaxLine Amount sent for a rate
  the invoice uses is kept; a rate not sent is computed (UNCONFIRMED: QBO may refuse it);
  a TotalTax sent without TaxLines is recomputed (UNCONFIRMED).
- Rounding: QuickBooks Online "will always calculate line-by-line" and rounds each line's
  tax to two decimals, so the total can differ from tax on the subtotal by cents (Intuit
  community answers, quickbooks.intuit.com/learn-support/en-ca/.../01/306952 and
  .../00/1567567). That is the default (`tax_rounding: "line"`); `"rate"` rounds once per
  rate. Half-cents round up (UNCONFIRMED; usual for money). TaxInclusive lines carve the
  tax out of the amount: net = amount x 100 / (100 + the code's total percent).
- With ApplyTaxAfterDiscount, the discount is shared across the discounted lines in
  proportion to their amounts (cents; the last line takes the remainder) before tax
  (UNCONFIRMED: how QBO splits it). Shipping is never discounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.emulator import faults
from app.emulator.jsonio import money, plain_number
from app.emulator.rules import Json, WriteContext, decimal_of, ref_value, resolve_ref
from app.emulator.seed_us_tax import ast_code_for_state

US_TAX_CODES = frozenset({"TAX", "NON"})
CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class TaxedLine:
    """One amount the tax rules look at: a sales line (discountable) or shipping."""

    amount: Decimal
    code: str  # TAX / NON in the US, a TaxCode Id elsewhere
    discountable: bool = True


@dataclass
class Totals:
    """What the lines of one invoice add up to."""

    subtotal: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    shipping: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    lines: list[TaxedLine] = field(default_factory=list)


@dataclass
class Rate:
    """One TaxRate of a code, with what the invoice's lines put on it."""

    rate_id: str
    percent: Decimal
    nets: list[Decimal] = field(default_factory=list)
    taxes: list[Decimal] = field(default_factory=list)


def line_tax_code(
    ctx: WriteContext, ref: Any, amount: Decimal, totals: Totals, *, discountable: bool = True
) -> Json:
    """A sales line's TaxCodeRef as stored; notes the line in `totals.lines`.

    US: TAX or NON (default NON), else 6100. Elsewhere a TaxCode Id is required (6000)
    and must exist (2500) and be active (610).
    """
    value = ref_value(ref)
    if ctx.company.is_us:
        value = value or "NON"
        if value not in US_TAX_CODES:
            raise faults.invalid_line_tax_code(value)
        totals.lines.append(TaxedLine(amount, value, discountable))
        return {"value": value}
    if value is None:
        what = "GST/HST" if ctx.company.country == "CA" else "VAT"
        raise faults.business_validation(
            f"Make sure all your transactions have a {what} rate before you save."
        )
    tax_code = resolve_ref(ctx.company, "TaxCode", ref, "Line.SalesItemLineDetail.TaxCodeRef")
    totals.lines.append(TaxedLine(amount, tax_code["Id"], discountable))
    return {"value": tax_code["Id"]}


def invoice_tax(
    ctx: WriteContext,
    totals: Totals,
    requested: Any,
    global_tax: str,
    after_discount: bool,
    ship_to: Any,
) -> Json:
    """The invoice's TxnTaxDetail (see the module docstring for each rule).

    `requested` is the TxnTaxDetail the request sent (None: none, or a sparse update
    that left it out - tax is then computed again). `global_tax` is the
    GlobalTaxCalculation (TaxExcluded outside the US is the default; US is exclusive).
    Raises 2500/610 for a TxnTaxCodeRef that is missing or inactive (US without AST).
    """
    company = ctx.company
    asked = requested if isinstance(requested, dict) else {}
    if not company.is_us:
        if global_tax == "NotApplicable":
            return {"TotalTax": Decimal(0)}
        return _non_us(ctx, totals, asked, global_tax, after_discount)
    if company.is_ast:
        state = ship_to.get("CountrySubDivisionCode") if isinstance(ship_to, dict) else None
        code = ast_code_for_state(company, str(state) if state else _company_state(ctx))
    elif asked.get("TxnTaxCodeRef") is not None:
        code = resolve_ref(company, "TaxCode", asked["TxnTaxCodeRef"], "TxnTaxDetail.TxnTaxCodeRef")
    else:
        code = None
    if code is None:
        total = _money_of(asked, "TotalTax") if company.is_ast else None
        return {"TotalTax": money(total or Decimal(0))}
    rates = {r.rate_id: r for r in _code_rates(ctx, code)}
    code_percent = sum((r.percent for r in rates.values()), Decimal(0))
    for base in _taxed_bases(totals, after_discount, {"TAX"}):
        for rate in rates.values():
            _put(rate, base, code_percent, inclusive=False)
    lines, total = _tax_lines(ctx, list(rates.values()), {})
    override = _money_of(asked, "TotalTax")
    if override is not None:
        lines, total = _prorated(list(rates.values()), lines, override)
    return {"TxnTaxCodeRef": {"value": code["Id"]}, "TotalTax": total, "TaxLine": lines}


def _non_us(
    ctx: WriteContext, totals: Totals, asked: Json, global_tax: str, after_discount: bool
) -> Json:
    rates: dict[str, Rate] = {}
    codes = {line.code for line in totals.lines}
    for code_id in sorted(codes, key=int):
        code = ctx.company.get("TaxCode", code_id) or {"Id": code_id}
        code_rates = _code_rates(ctx, code)
        code_percent = sum((r.percent for r in code_rates), Decimal(0))
        for base in _taxed_bases(totals, after_discount, {code_id}):
            for rate in code_rates:
                held = rates.setdefault(rate.rate_id, Rate(rate.rate_id, rate.percent))
                _put(held, base, code_percent, inclusive=global_tax == "TaxInclusive")
    sent: dict[str, Decimal] = {}
    for line in asked.get("TaxLine") or []:
        detail = line.get("TaxLineDetail") if isinstance(line, dict) else None
        rate_id = ref_value((detail or {}).get("TaxRateRef"))
        amount = (
            _money_of(line, "Amount", "TxnTaxDetail.TaxLine.Amount")
            if isinstance(line, dict)
            else None
        )
        if rate_id is not None and amount is not None:
            sent[rate_id] = amount
    lines, total = _tax_lines(ctx, list(rates.values()), sent)
    return {"TotalTax": total, "TaxLine": lines}


def _put(rate: Rate, base: Decimal, code_percent: Decimal, *, inclusive: bool) -> None:
    net = base * 100 / (100 + code_percent) if inclusive else base
    rate.nets.append(net)
    rate.taxes.append(net * rate.percent / 100)


def _tax_lines(
    ctx: WriteContext, rates: list[Rate], sent: dict[str, Decimal]
) -> tuple[list[Json], Decimal]:
    by_line = ctx.company.sales.tax_rounding != "rate"
    lines: list[Json] = []
    total = Decimal(0)
    for rate in rates:
        if by_line:
            net = sum((cents(n) for n in rate.nets), Decimal(0))
            tax = sum((cents(t) for t in rate.taxes), Decimal(0))
        else:
            net = cents(sum(rate.nets, Decimal(0)))
            tax = cents(sum(rate.taxes, Decimal(0)))
        tax = sent.get(rate.rate_id, tax)
        total += tax
        lines.append(_tax_line(rate, net, tax))
    return lines, money(total)


def _tax_line(rate: Rate, net: Decimal, tax: Decimal) -> Json:
    return {
        "Amount": money(tax),
        "DetailType": "TaxLineDetail",
        "TaxLineDetail": {
            "TaxRateRef": {"value": rate.rate_id},
            "PercentBased": True,
            "TaxPercent": plain_number(rate.percent),
            "NetAmountTaxable": money(net),
        },
    }


def _prorated(rates: list[Rate], lines: list[Json], total: Decimal) -> tuple[list[Json], Decimal]:
    """Spread an explicit TotalTax over the code's rates by their percent (the last rate
    takes what rounding leaves)."""
    whole = sum((r.percent for r in rates), Decimal(0))
    left = total
    for index, (rate, line) in enumerate(zip(rates, lines, strict=True)):
        if index == len(rates) - 1:
            share = left
        else:
            share = cents(total * rate.percent / whole) if whole else Decimal(0)
        left -= share
        line["Amount"] = money(share)
    return lines, money(total)


def _taxed_bases(totals: Totals, after_discount: bool, codes: set[str]) -> list[Decimal]:
    """The taxable amount of each line whose code is in `codes`: the amount, less its
    share of the discount when tax comes after the discount."""
    shares = _discount_shares(totals) if after_discount else {}
    return [
        line.amount - shares.get(index, Decimal(0))
        for index, line in enumerate(totals.lines)
        if line.code in codes
    ]


def _discount_shares(totals: Totals) -> dict[int, Decimal]:
    discounted = [i for i, line in enumerate(totals.lines) if line.discountable]
    base = sum((totals.lines[i].amount for i in discounted), Decimal(0))
    if not discounted or base == 0 or totals.discount == 0:
        return {}
    shares: dict[int, Decimal] = {}
    left = totals.discount
    for position, index in enumerate(discounted):
        if position == len(discounted) - 1:
            share = left
        else:
            share = cents(totals.discount * totals.lines[index].amount / base)
        shares[index] = share
        left -= share
    return shares


def _code_rates(ctx: WriteContext, code: Json) -> list[Rate]:
    """The sales rates of a TaxCode (its SalesTaxRateList, rates read from the TaxRate
    records); a company stored before codes had rate lists uses `company.tax_rates`."""
    details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    rates: list[Rate] = []
    for detail in details:
        rate_id = ref_value(detail.get("TaxRateRef"))
        record = ctx.company.get("TaxRate", rate_id) if rate_id else None
        if rate_id is not None and record is not None:
            rates.append(Rate(rate_id, Decimal(str(record.get("RateValue", 0)))))
    if not rates and code.get("Id") in ctx.company.tax_rates:
        rates.append(Rate(code["Id"], Decimal(str(ctx.company.tax_rates[code["Id"]]))))
    return rates


def _company_state(ctx: WriteContext) -> str | None:
    info = ctx.company.get("CompanyInfo", ctx.company.realm_id) or {}
    address = info.get("CompanyAddr") or {}
    state = address.get("CountrySubDivisionCode")
    return str(state) if state else None


def _money_of(body: Json, key: str, element: str | None = None) -> Decimal | None:
    value = decimal_of(body, key, element or f"TxnTaxDetail.{key}")
    return None if value is None else cents(value)
