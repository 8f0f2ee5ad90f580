"""US sales tax records of a new company: the automated sales tax (AST) engine's state
table, or the manual rates of a company without AST.

Intuit, "Manage sales tax for US locales" (developer.intuit.com/app/developer/qbo/docs/
workflows/manage-sales-tax-for-us-locales): companies created after 10 Nov 2017 use AST;
"Sales tax is determined based on the source and destination address. [...] The
destination address is the shipping address provided on the sales transaction. If a
shipping address is not provided, the company address is considered as the destination
address"; Preferences.TaxPrefs.PartnerTaxEnabled says whether a company uses AST. Intuit's
blog "Using QuickBooks Online API for automated sales tax" (2017-12-11): the AST engine
"assigns the appropriate tax code" and "TaxCode object created by AST"; so an AST company
holds one TaxCode per state it collects in, a group of that state's TaxRates.

The emulator's AST table (a stand-in for Intuit's engine, one combined rate per state, not
real jurisdiction data):

| state | code | rates (TaxRate name, percent) | total |
| --- | --- | --- | --- |
| CA | California | California State 6, California County 1.25 | 7.25 |
| NY | New York | New York State 4, New York City 4.5, MCTD 0.375 | 8.875 |
| TX | Texas | Texas State 6.25 | 6.25 |
| WA | Washington | Washington State 6.5, Seattle 3.6 | 10.1 |
| OR and any other state | none | none | 0 |

A US company without AST gets the rates its accountant would have set up by hand: TaxRate
1 "CA State" 7.25, 2 "SF City" 1.375, *3 "Old Rate" 6* (inactive); TaxCode 1 "CA State"
(rate 1), 2 "San Francisco" (group of rates 1 and 2, 8.625), *3 "Old Rate"* (inactive).
Invoices name one of these in TxnTaxDetail.TxnTaxCodeRef; lines still say TAX or NON.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.emulator.company import Company

# State -> (TaxCode name, [(TaxRate name, percent)]); states not listed collect no tax.
AST_STATES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "CA": ("California", [("California State", "6"), ("California County", "1.25")]),
    "NY": ("New York", [("New York State", "4"), ("New York City", "4.5"), ("MCTD", "0.375")]),
    "TX": ("Texas", [("Texas State", "6.25")]),
    "WA": ("Washington", [("Washington State", "6.5"), ("Seattle", "3.6")]),
    "OR": ("Oregon", []),
}
# Manual (non-AST) US rates: (name, percent, active) and codes: (name, [rate index], active).
MANUAL_RATES = [("CA State", "7.25", True), ("SF City", "1.375", True), ("Old Rate", "6", False)]
MANUAL_CODES = [("CA State", [0], True), ("San Francisco", [0, 1], True), ("Old Rate", [2], False)]
COMPANY_STATE = "CA"


def new_record(record_id: str, stamp: str) -> dict[str, Any]:
    """What every seeded record carries: its Id, SyncToken 0 and its creation time."""
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": record_id,
        "SyncToken": "0",
        "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
    }


def seed_us_taxes(company: Company, stamp: str) -> None:
    """The AST state codes (AST companies) or the manual rates (others); mutates `company`.

    Side effect: `company.tax_rates` maps each TaxCode Id to its combined percent.
    """
    if company.is_ast:
        for state, (code_name, rates) in AST_STATES.items():
            if not rates:
                continue
            agency = _agency(company, stamp, f"{code_name} Department of Revenue")
            rate_ids = [_rate(company, stamp, name, pct, agency, True) for name, pct in rates]
            _code(company, stamp, code_name, rate_ids, True, f"{code_name} sales tax ({state})")
        return
    agency = _agency(company, stamp, "California Department of Tax and Fee Administration")
    rate_ids = [
        _rate(company, stamp, name, pct, agency, active) for name, pct, active in MANUAL_RATES
    ]
    for name, indexes, active in MANUAL_CODES:
        _code(company, stamp, name, [rate_ids[i] for i in indexes], active)


def ast_code_for_state(company: Company, state: str | None) -> dict[str, Any] | None:
    """The AST TaxCode of a state (None: the state collects no tax in the table)."""
    entry = AST_STATES.get((state or "").strip().upper())
    if entry is None or not entry[1]:
        return None
    for code in company.table("TaxCode").values():
        if code.get("Name") == entry[0] and code.get("Active", True):
            return code
    return None


def _agency(company: Company, stamp: str, name: str) -> tuple[str, str]:
    agency_id = company.new_id("TaxAgency")
    company.put(
        "TaxAgency",
        {
            **new_record(agency_id, stamp),
            "DisplayName": name,
            "TaxTrackedOnSales": True,
            "TaxTrackedOnPurchases": False,
        },
    )
    return agency_id, name


def _rate(
    company: Company, stamp: str, name: str, percent: str, agency: tuple[str, str], active: bool
) -> tuple[str, str, Decimal]:
    rate_id = company.new_id("TaxRate")
    company.put(
        "TaxRate",
        {
            **new_record(rate_id, stamp),
            "Name": name,
            "Description": f"{name} ({percent}%)",
            "Active": active,
            "RateValue": Decimal(percent),
            "AgencyRef": {"value": agency[0], "name": agency[1]},
            "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
        },
    )
    return rate_id, name, Decimal(percent)


def _code(
    company: Company,
    stamp: str,
    name: str,
    rates: list[tuple[str, str, Decimal]],
    active: bool,
    description: str | None = None,
) -> None:
    code_id = company.new_id("TaxCode")
    company.tax_rates[code_id] = sum((pct for _, _, pct in rates), Decimal(0))
    details = [
        {
            "TaxRateRef": {"value": rate_id, "name": rate_name},
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 0,
        }
        for rate_id, rate_name, _ in rates
    ]
    company.put(
        "TaxCode",
        {
            "Name": name,
            "Description": description or name,
            "Active": active,
            "Hidden": False,
            "Taxable": True,
            "TaxGroup": len(rates) > 1,
            "SalesTaxRateList": {"TaxRateDetail": details},
            "PurchaseTaxRateList": {"TaxRateDetail": []},
            **new_record(code_id, stamp),
        },
    )
