"""Property names of the read-only list entities, from Intuit's XSD (Finance.xsd, July
2026), as in `app.emulator.schema`: a query naming anything else is Fault 4001.
tests/emulator checks them against the XSD itself."""

from __future__ import annotations

ACCOUNT_PROPERTIES: frozenset[str] = frozenset(
    {
        "AccountAlias",
        "AccountEx",
        "AccountPurposes",
        "AccountSubType",
        "AccountType",
        "AcctNum",
        "AcctNumExtn",
        "Active",
        "AttachableRef",
        "BankNum",
        "Classification",
        "CurrencyRef",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "CustomField",
        "Description",
        "FIName",
        "FullyQualifiedName",
        "Id",
        "JournalCodeRef",
        "MetaData",
        "Name",
        "OnlineBankingEnabled",
        "OpeningBalance",
        "OpeningBalanceDate",
        "ParentRef",
        "SubAccount",
        "SyncToken",
        "TaxAccount",
        "TaxCodeRef",
        "TxnLocationType",
        "domain",
        "sparse",
        "status",
    }
)

TAX_CODE_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "AdjustmentTaxRateList",
        "AttachableRef",
        "CustomField",
        "Description",
        "Hidden",
        "Id",
        "MetaData",
        "Name",
        "PurchaseTaxRateList",
        "SalesTaxRateList",
        "SyncToken",
        "TaxCodeConfigType",
        "TaxCodeEx",
        "TaxGroup",
        "Taxable",
        "domain",
        "sparse",
        "status",
    }
)

TAX_RATE_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "AgencyRef",
        "AttachableRef",
        "CustomField",
        "Description",
        "DisplayType",
        "EffectiveTaxRate",
        "Id",
        "MetaData",
        "Name",
        "OriginalTaxRate",
        "RateValue",
        "SpecialTaxType",
        "SyncToken",
        "TaxRateEx",
        "TaxReturnLineRef",
        "domain",
        "sparse",
        "status",
    }
)

PAYMENT_METHOD_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "AttachableRef",
        "CustomField",
        "Id",
        "MetaData",
        "Name",
        "PaymentMethodEx",
        "SyncToken",
        "Type",
        "domain",
        "sparse",
        "status",
    }
)

CLASS_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "AttachableRef",
        "ClassEx",
        "CustomField",
        "FullyQualifiedName",
        "Id",
        "MetaData",
        "Name",
        "ParentRef",
        "SubClass",
        "SyncToken",
        "domain",
        "sparse",
        "status",
    }
)

DEPARTMENT_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "Address",
        "AttachableRef",
        "CustomField",
        "DepartmentEx",
        "FullyQualifiedName",
        "Id",
        "MetaData",
        "Name",
        "ParentRef",
        "SubDepartment",
        "SyncToken",
        "domain",
        "sparse",
        "status",
    }
)

TERM_PROPERTIES: frozenset[str] = frozenset(
    {
        "Active",
        "AttachableRef",
        "CustomField",
        "DayOfMonthDue",
        "DiscountDayOfMonth",
        "DiscountDays",
        "DiscountPercent",
        "DueDays",
        "DueNextMonthDays",
        "Id",
        "MetaData",
        "Name",
        "SalesTermEx",
        "SyncToken",
        "Type",
        "domain",
        "sparse",
        "status",
    }
)

LIST_PROPERTIES: dict[str, frozenset[str]] = {
    "Account": ACCOUNT_PROPERTIES,
    "TaxCode": TAX_CODE_PROPERTIES,
    "TaxRate": TAX_RATE_PROPERTIES,
    "PaymentMethod": PAYMENT_METHOD_PROPERTIES,
    "Class": CLASS_PROPERTIES,
    "Department": DEPARTMENT_PROPERTIES,
    "Term": TERM_PROPERTIES,
}
