"""The reference lists a new company holds besides its accounts: payment methods, classes,
departments, terms and a tax agency with its tax rates and tax codes (US ones in
`app.emulator.seed_us_tax`).

Shapes follow Intuit's recorded objects (quickbooks-ruby fixtures `payment_methods.xml`,
`classes.xml`, `departments.xml`, `terms.xml`, `tax_rate.xml`, `tax_code.xml`). Each list
has at least one inactive record, so a test can see that a query leaves it out and a write
that names it is refused (Fault 610).
"""

from __future__ import annotations

from decimal import Decimal

from app.emulator.company import Company
from app.emulator.seed_us_tax import new_record, seed_us_taxes

# (Name, Type, Active)
PAYMENT_METHODS = [
    ("Cash", "NON_CREDIT_CARD", True),
    ("Check", "NON_CREDIT_CARD", True),
    ("Visa", "CREDIT_CARD", True),
    ("MasterCard", "CREDIT_CARD", True),
    ("American Express", "CREDIT_CARD", True),
    ("Barter", "NON_CREDIT_CARD", False),
]
# (Name, Active)
CLASSES = [("Retail", True), ("Wholesale", True), ("Legacy", False)]
DEPARTMENTS = [("North", True), ("South", True), ("Closed", False)]
# (Name, DueDays): Type STANDARD, no early-payment discount.
TERMS = [("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]

# Country -> [(TaxCode name, rate percent)]; the last entry of each is inactive.
TAX_CODES: dict[str, list[tuple[str, str]]] = {
    "GB": [
        ("20.0% S", "20"),
        ("5.0% R", "5"),
        ("0.0% Z", "0"),
        ("Exempt", "0"),
        ("17.5% S", "17.5"),
    ],
    "UK": [
        ("20.0% S", "20"),
        ("5.0% R", "5"),
        ("0.0% Z", "0"),
        ("Exempt", "0"),
        ("17.5% S", "17.5"),
    ],
    "CA": [("HST ON", "13"), ("GST", "5"), ("Exempt", "0"), ("GST 7%", "7")],
    "AU": [("GST", "10"), ("FRE", "0"), ("GST 12.5%", "12.5")],
}
DEFAULT_TAX_CODES = [("Standard", "20"), ("Zero-rated", "0"), ("Exempt", "0"), ("Retired", "15")]
TAX_AGENCIES = {
    "GB": "HM Revenue & Customs",
    "UK": "HM Revenue & Customs",
    "CA": "Canada Revenue Agency",
    "AU": "Australian Taxation Office",
}
DEFAULT_TAX_AGENCY = "Tax Agency"


def seed_lists(company: Company, stamp: str) -> None:
    """Add the payment methods, classes, departments, terms and (outside the US) the tax
    agency, tax rates and tax codes to a fresh company (mutates `company`)."""
    for name, method_type, active in PAYMENT_METHODS:
        company.put(
            "PaymentMethod",
            {
                **new_record(company.new_id("PaymentMethod"), stamp),
                "Name": name,
                "Active": active,
                "Type": method_type,
            },
        )
    for name, active in CLASSES:
        company.put(
            "Class",
            {
                **new_record(company.new_id("Class"), stamp),
                "Name": name,
                "SubClass": False,
                "FullyQualifiedName": name,
                "Active": active,
            },
        )
    for name, active in DEPARTMENTS:
        company.put(
            "Department",
            {
                **new_record(company.new_id("Department"), stamp),
                "Name": name,
                "SubDepartment": False,
                "FullyQualifiedName": name,
                "Active": active,
            },
        )
    for name, due_days in TERMS:
        company.put(
            "Term",
            {
                **new_record(company.new_id("Term"), stamp),
                "Name": name,
                "Active": True,
                "Type": "STANDARD",
                "DiscountPercent": Decimal(0),
                "DueDays": due_days,
                "DiscountDays": 0,
            },
        )
    if company.is_us:
        seed_us_taxes(company, stamp)
    else:
        _seed_taxes(company, stamp)


def _seed_taxes(company: Company, stamp: str) -> None:
    """One agency; per code one rate of the same name (so TaxRate Id = TaxCode Id), the
    code's sales and purchase lists pointing at it. `company.tax_rates` maps each TaxCode
    Id to its rate, for the invoice arithmetic."""
    agency_name = TAX_AGENCIES.get(company.country, DEFAULT_TAX_AGENCY)
    agency_id = company.new_id("TaxAgency")
    company.put(
        "TaxAgency",
        {
            **new_record(agency_id, stamp),
            "DisplayName": agency_name,
            "TaxTrackedOnSales": True,
            "TaxTrackedOnPurchases": True,
        },
    )
    codes = TAX_CODES.get(company.country, DEFAULT_TAX_CODES)
    for index, (name, rate) in enumerate(codes):
        active = index < len(codes) - 1
        rate_id = company.new_id("TaxRate")
        company.put(
            "TaxRate",
            {
                **new_record(rate_id, stamp),
                "Name": name,
                "Description": f"{name} ({rate}%)",
                "Active": active,
                "RateValue": Decimal(rate),
                "AgencyRef": {"value": agency_id, "name": agency_name},
                "SpecialTaxType": "NONE" if rate != "0" else "ZERO_RATE",
                "DisplayType": "ReadOnly",
            },
        )
        code_id = company.new_id("TaxCode")
        company.tax_rates[code_id] = Decimal(rate)
        detail = {
            "TaxRateRef": {"value": rate_id, "name": name},
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 0,
        }
        company.put(
            "TaxCode",
            {
                "Name": name,
                "Description": f"{name} ({rate}%)",
                "Active": active,
                "Hidden": False,
                "Taxable": rate != "0",
                "TaxGroup": False,
                "SalesTaxRateList": {"TaxRateDetail": [detail]},
                "PurchaseTaxRateList": {"TaxRateDetail": [dict(detail)]},
                **new_record(code_id, stamp),
            },
        )
