"""What a new company already holds: chart of accounts, an item, a vendor, an employee,
CompanyInfo, Preferences and, outside the US, tax codes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from app.emulator.company import Company

# (name, classification, AccountType, AccountSubType)
ACCOUNTS = [
    ("Services", "Revenue", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
    ("Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
    ("Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
    ("Checking", "Asset", "Bank", "Checking"),
]
SEEDED_VENDOR = "Books by Bessie"
SEEDED_EMPLOYEE = ("Emily", "Platt")

# Country -> [(TaxCode name, rate percent)]
TAX_CODES: dict[str, list[tuple[str, str]]] = {
    "GB": [("20.0% S", "20"), ("5.0% R", "5"), ("0.0% Z", "0"), ("Exempt", "0")],
    "UK": [("20.0% S", "20"), ("5.0% R", "5"), ("0.0% Z", "0"), ("Exempt", "0")],
    "CA": [("HST ON", "13"), ("GST", "5"), ("Exempt", "0")],
    "AU": [("GST", "10"), ("FRE", "0")],
}
DEFAULT_TAX_CODES = [("Standard", "20"), ("Zero-rated", "0"), ("Exempt", "0")]


def _base(record_id: str, stamp: str) -> dict[str, Any]:
    return {
        "domain": "QBO",
        "sparse": False,
        "Id": record_id,
        "SyncToken": "0",
        "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
    }


def seed_company(company: Company, stamp: str, today: date) -> None:
    """Fill a fresh company with its seeded records (mutates `company`)."""
    code, currency_name = company.currency
    currency = {"value": code, "name": currency_name}
    for name, classification, acct_type, sub_type in ACCOUNTS:
        record_id = company.new_id("Account")
        company.put(
            "Account",
            {
                "Name": name,
                "SubAccount": False,
                "FullyQualifiedName": name,
                "Active": True,
                "Classification": classification,
                "AccountType": acct_type,
                "AccountSubType": sub_type,
                "CurrentBalance": Decimal(0),
                "CurrentBalanceWithSubAccounts": Decimal(0),
                "CurrencyRef": dict(currency),
                **_base(record_id, stamp),
            },
        )
    company.put(
        "Item",
        {
            "Name": "Services",
            "Active": True,
            "FullyQualifiedName": "Services",
            "Taxable": False,
            "UnitPrice": Decimal(0),
            "Type": "Service",
            "IncomeAccountRef": {"value": "1", "name": "Services"},
            "PurchaseCost": Decimal(0),
            "TrackQtyOnHand": False,
            **_base(company.new_id("Item"), stamp),
        },
    )
    company.put(
        "Vendor",
        {
            "Balance": Decimal(0),
            "Vendor1099": False,
            "CurrencyRef": dict(currency),
            **_base(company.new_id("Vendor"), stamp),
            "CompanyName": SEEDED_VENDOR,
            "DisplayName": SEEDED_VENDOR,
            "PrintOnCheckName": SEEDED_VENDOR,
            "Active": True,
        },
    )
    given, family = SEEDED_EMPLOYEE
    company.put(
        "Employee",
        {
            "BillableTime": False,
            **_base(company.new_id("Employee"), stamp),
            "GivenName": given,
            "FamilyName": family,
            "DisplayName": f"{given} {family}",
            "PrintOnCheckName": f"{given} {family}",
            "Active": True,
        },
    )
    if not company.is_us:
        for name, rate in TAX_CODES.get(company.country, DEFAULT_TAX_CODES):
            record_id = company.new_id("TaxCode")
            company.tax_rates[record_id] = Decimal(rate)
            company.put(
                "TaxCode",
                {
                    "Name": name,
                    "Description": f"{name} ({rate}%)",
                    "Active": True,
                    "Hidden": False,
                    "Taxable": rate != "0",
                    "TaxGroup": False,
                    **_base(record_id, stamp),
                },
            )
    company.put("CompanyInfo", _company_info(company, stamp, today))
    company.put("Preferences", preferences(company, stamp))


def _company_info(company: Company, stamp: str, today: date) -> dict[str, Any]:
    address = {"Id": "1", "Line1": "2600 Marine Way", "City": "Mountain View"}
    address["Country"] = company.country
    return {
        "CompanyName": company.name,
        "LegalName": company.name,
        "CompanyAddr": address,
        "CustomerCommunicationAddr": dict(address),
        "LegalAddr": dict(address),
        "PrimaryPhone": {},
        "CompanyStartDate": today.isoformat(),
        "FiscalYearStartMonth": "January",
        "Country": company.country,
        "Email": {"Address": "noreply@quickbooks.example"},
        "WebAddr": {},
        "SupportedLanguages": "en",
        **_base(company.realm_id, stamp),
    }


def preferences(company: Company, stamp: str) -> dict[str, Any]:
    """The Preferences object; rebuilt when the admin API changes a preference."""
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "CustomerTerminology": "Customers",
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": company.custom_txn_numbers,
            "AllowDeposit": False,
            "AllowDiscount": True,
            "AllowShipping": False,
            "AllowServiceDate": False,
            "AutoApplyCredit": True,
        },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": False,
            "HomeCurrency": {"value": company.currency[0]},
        },
        "TaxPrefs": {"UsingSalesTax": not company.is_us, "PartnerTaxEnabled": company.is_us},
        **_base("1", stamp),
    }
