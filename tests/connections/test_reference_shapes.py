"""Rows of the reference lists from records as QBO answers them (the JSON of the
recordings in ../shared/qbo-reference/quickbooks-ruby-fixtures: accounts.xml,
tax_codes.xml, tax_rates.xml, payment_methods.xml, classes.xml, departments.xml,
terms.xml), and the paging of long lists."""

from __future__ import annotations

from typing import Any

from app.connections.reference import (
    PAGE_SIZE,
    ReferenceKind,
    fetch_list,
    query_all,
    shape,
)

ACCOUNT = {
    "Id": "5",
    "Name": "Cost of Goods Sold",
    "SubAccount": False,
    "FullyQualifiedName": "Cost of Goods Sold",
    "Active": True,
    "Classification": "Expense",
    "AccountType": "Cost of Goods Sold",
    "AccountSubType": "SuppliesMaterialsCogs",
}
# A US company's pseudo codes carry no Active element; a sales tax group names its rates.
TAX_CODES = [
    {"Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": True, "TaxGroup": False},
    {
        "Id": "7",
        "Name": "Alameda County Tax",
        "Active": True,
        "Taxable": True,
        "TaxGroup": True,
        "SalesTaxRateList": {
            "TaxRateDetail": [
                {
                    "TaxRateRef": {"value": "16", "name": "Newark City"},
                    "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": 0,
                },
                {
                    "TaxRateRef": {"value": "7", "name": "Fremont City"},
                    "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": 0,
                },
            ]
        },
        "PurchaseTaxRateList": {},
    },
]
TAX_RATES = [
    {"Id": "16", "Name": "Newark City", "Active": True, "RateValue": 9.25},
    {"Id": "7", "Name": "Fremont City", "Active": False, "RateValue": "8.750"},
]
TERM_DATE_DRIVEN = {
    "Id": "11",
    "Name": "TermForV3Testing-1373590184130",
    "Active": True,
    "Type": "DATE_DRIVEN",
    "DiscountPercent": 4.0,
    "DayOfMonthDue": 1,
    "DueNextMonthDays": 2,
    "DiscountDayOfMonth": 3,
}


def test_an_account_row() -> None:
    assert shape(ReferenceKind.ACCOUNTS, ACCOUNT, {}) == {
        "id": "5",
        "name": "Cost of Goods Sold",
        "active": True,
        "type": "Cost of Goods Sold",
        "sub_type": "SuppliesMaterialsCogs",
        "classification": "Expense",
    }


async def test_tax_codes_are_read_with_their_rates() -> None:
    statements: list[str] = []

    async def query(statement: str) -> list[dict[str, Any]]:
        statements.append(statement)
        return TAX_CODES if "FROM TaxCode" in statement else TAX_RATES

    rows = await fetch_list(query, ReferenceKind.TAX_CODES)
    assert rows == [
        {"id": "TAX", "name": "TAX", "active": True, "type": None, "rates": []},
        {
            "id": "7",
            "name": "Alameda County Tax",
            "active": True,
            "type": None,
            "rates": [
                {"id": "16", "name": "Newark City", "rate": "9.25"},
                {"id": "7", "name": "Fremont City", "rate": "8.75"},
            ],
        },
    ]
    assert statements == [
        "SELECT * FROM TaxCode WHERE Active IN (true, false) STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM TaxRate WHERE Active IN (true, false) STARTPOSITION 1 MAXRESULTS 1000",
    ]


def test_a_rate_qbo_did_not_answer_keeps_its_name() -> None:
    row = shape(ReferenceKind.TAX_CODES, TAX_CODES[1], {})
    assert row["rates"][0] == {"id": "16", "name": "Newark City", "rate": None}


def test_payment_methods_classes_departments_and_terms() -> None:
    method = {"Id": "5", "Name": "American Express", "Active": True, "Type": "CREDIT_CARD"}
    assert shape(ReferenceKind.PAYMENT_METHODS, method, {}) == {
        "id": "5",
        "name": "American Express",
        "active": True,
        "type": "CREDIT_CARD",
    }
    design = {"Id": "1", "Name": "Design", "SubClass": False, "FullyQualifiedName": "Design"}
    assert shape(ReferenceKind.CLASSES, {**design, "Active": True}, {})["name"] == "Design"
    sub = {"Id": "3", "Name": "Web", "FullyQualifiedName": "Design:Web", "Active": "false"}
    assert shape(ReferenceKind.DEPARTMENTS, sub, {}) == {
        "id": "3",
        "name": "Design:Web",
        "active": False,
        "type": None,
    }
    assert shape(ReferenceKind.TERMS, TERM_DATE_DRIVEN, {}) == {
        "id": "11",
        "name": "TermForV3Testing-1373590184130",
        "active": True,
        "type": "DATE_DRIVEN",
        "due_days": None,
    }
    net = {"Id": "3", "Name": "Net 30", "Active": True, "Type": "STANDARD", "DueDays": "30"}
    assert shape(ReferenceKind.TERMS, net, {})["due_days"] == 30


async def test_long_lists_are_read_page_by_page() -> None:
    statements: list[str] = []

    async def query(statement: str) -> list[dict[str, Any]]:
        statements.append(statement)
        start = int(statement.split("STARTPOSITION ")[1].split()[0])
        count = PAGE_SIZE if start <= PAGE_SIZE else 3
        return [{"Id": str(start + i), "Name": f"a{start + i}"} for i in range(count)]

    rows = await query_all(query, "Account")
    assert len(rows) == PAGE_SIZE + 3
    assert [s.split("STARTPOSITION ")[1] for s in statements] == [
        "1 MAXRESULTS 1000",
        "1001 MAXRESULTS 1000",
    ]
