"""What a new company already holds: chart of accounts, an item, a vendor, an employee,
CompanyInfo, Preferences and the reference lists of `app.emulator.seed_lists` (payment
methods, classes, departments, terms and, outside the US, tax rates and codes)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from app.emulator.company import Company
from app.emulator.seed_lists import seed_lists
from app.emulator.seed_us_tax import COMPANY_STATE, new_record


class SeedAccount(NamedTuple):
    name: str
    classification: str
    account_type: str
    sub_type: str
    active: bool = True


# Ids follow this order: the first seven are what tests and the service long relied on
# (1 = "Services", 4 = Undeposited Funds, 7 = Checking); new accounts go at the end.
ACCOUNTS = [
    SeedAccount("Services", "Revenue", "Income", "ServiceFeeIncome"),
    SeedAccount("Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
    SeedAccount("Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    SeedAccount("Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
    SeedAccount("Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
    SeedAccount("Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
    SeedAccount("Checking", "Asset", "Bank", "Checking"),
    SeedAccount("Consulting Income", "Revenue", "Income", "ServiceFeeIncome"),
    SeedAccount("Product Sales", "Revenue", "Income", "SalesOfProductIncome"),
    SeedAccount("Old Income", "Revenue", "Income", "OtherPrimaryIncome", False),
    SeedAccount("Office Expenses", "Expense", "Expense", "OfficeGeneralAdministrativeExpenses"),
    SeedAccount("Supplies", "Expense", "Expense", "SuppliesMaterials"),
    SeedAccount("Discounts given", "Revenue", "Income", "DiscountsRefundsGiven"),
    SeedAccount("Savings", "Asset", "Bank", "Savings"),
]
SEEDED_VENDOR = "Books by Bessie"
SEEDED_EMPLOYEE = ("Emily", "Platt")


def seed_company(company: Company, stamp: str, today: date) -> None:
    """Fill a fresh company with its seeded records (mutates `company`)."""
    code, currency_name = company.currency
    currency = {"value": code, "name": currency_name}
    for account in ACCOUNTS:
        record_id = company.new_id("Account")
        company.put(
            "Account",
            {
                "Name": account.name,
                "SubAccount": False,
                "FullyQualifiedName": account.name,
                "Active": account.active,
                "Classification": account.classification,
                "AccountType": account.account_type,
                "AccountSubType": account.sub_type,
                "CurrentBalance": Decimal(0),
                "CurrentBalanceWithSubAccounts": Decimal(0),
                "CurrencyRef": dict(currency),
                **new_record(record_id, stamp),
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
            **new_record(company.new_id("Item"), stamp),
        },
    )
    company.put(
        "Vendor",
        {
            "Balance": Decimal(0),
            "Vendor1099": False,
            "CurrencyRef": dict(currency),
            **new_record(company.new_id("Vendor"), stamp),
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
            **new_record(company.new_id("Employee"), stamp),
            "GivenName": given,
            "FamilyName": family,
            "DisplayName": f"{given} {family}",
            "PrintOnCheckName": f"{given} {family}",
            "Active": True,
        },
    )
    seed_lists(company, stamp)
    company.put("CompanyInfo", _company_info(company, stamp, today))
    company.put("Preferences", preferences(company, stamp))


def _company_info(company: Company, stamp: str, today: date) -> dict[str, Any]:
    address: dict[str, Any] = {"Id": "1", "Line1": "2600 Marine Way", "City": "Mountain View"}
    if company.is_us:
        # The AST engine's source address, and its destination when an invoice has none.
        address["CountrySubDivisionCode"] = COMPANY_STATE
        address["PostalCode"] = "94043"
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
        **new_record(company.realm_id, stamp),
    }


def preferences(company: Company, stamp: str) -> dict[str, Any]:
    """The Preferences object; rebuilt when the admin API changes a preference.

    SalesFormsPrefs.CustomField holds the sales-form custom fields as QBO answers them
    (quickbooks-ruby fixture preferences.xml; QuickBooks-V3-PHP-SDK issues #258, #398):
    one BooleanType group `SalesFormsPrefs.UseSalesCustomN` (enabled) and one StringType
    group `SalesFormsPrefs.SalesCustomNameN` (the name); N is the DefinitionId an
    invoice's CustomField names. TaxPrefs: every company here uses sales tax (US ones
    through seeded or AST codes); PartnerTaxEnabled is AST ("Manage sales tax for US
    locales").
    """
    sales = company.sales
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": True,
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxn": True,
            "ClassTrackingPerTxnLine": True,
            "CustomerTerminology": "Customers",
        },
        "SalesFormsPrefs": {
            "CustomField": _custom_field_prefs(company),
            "CustomTxnNumbers": company.custom_txn_numbers,
            "AllowDeposit": False,
            "AllowDiscount": sales.allow_discount,
            "AllowShipping": sales.allow_shipping,
            "AllowServiceDate": False,
            "AutoApplyCredit": True,
        },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": sales.multicurrency,
            "HomeCurrency": {"value": company.currency[0]},
        },
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": company.is_ast},
        **new_record("1", stamp),
    }


def _custom_field_prefs(company: Company) -> list[dict[str, Any]]:
    fields = company.sales.custom_fields
    return [
        {
            "CustomField": [
                {
                    "Name": f"SalesFormsPrefs.UseSalesCustom{n}",
                    "Type": "BooleanType",
                    "BooleanValue": bool(f.get("enabled", True)),
                }
                for n, f in enumerate(fields, start=1)
            ]
        },
        {
            "CustomField": [
                {
                    "Name": f"SalesFormsPrefs.SalesCustomName{n}",
                    "Type": "StringType",
                    "StringValue": str(f.get("name", "")),
                }
                for n, f in enumerate(fields, start=1)
            ]
        },
    ]
