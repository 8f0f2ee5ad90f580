"""The company's terms, classes and departments, looked up by name once and cached; a
name the cached list lacks is looked up again at once (just added in QBO)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from app.sync.company import CompanyLookups
from app.sync.payloads import CompanyContext, resolve_name
from app.sync.realm import RealmApi
from tests.support.samples import full_invoice


class FakeApi:
    realm_id = "9130"

    def __init__(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        self.tables = tables
        self.queries: list[str] = []

    async def query(self, statement: str) -> list[dict[str, Any]]:
        self.queries.append(statement)
        words = statement.split()
        start, size = int(words[words.index("STARTPOSITION") + 1]), int(words[-1])
        return self.tables[words[3]][start - 1 : start - 1 + size]


TABLES: dict[str, list[dict[str, Any]]] = {
    "Term": [{"Id": "3", "Name": "Net 30"}],
    "Class": [
        {"Id": "1", "Name": "Retail", "FullyQualifiedName": "Retail"},
        {"Id": "2", "Name": "Online", "FullyQualifiedName": "Retail:Online"},
        {"Id": "6", "Name": "Legacy", "Active": False},
    ],
    "Department": [{"Id": "5", "Name": "North"}],
    "TaxCode": [
        {
            "Id": "2",
            "Name": "20.0% S",
            "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "4"}}]},
        },
        {
            "Id": "7",
            "Name": "GST/PST",
            "SalesTaxRateList": {
                "TaxRateDetail": [{"TaxRateRef": {"value": "5"}}, {"TaxRateRef": {"value": "6"}}]
            },
        },
        {
            "Id": "9",
            "Name": "Lost rate",
            "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "99"}}]},
        },
    ],
    "TaxRate": [
        {"Id": "4", "RateValue": 20},
        {"Id": "5", "RateValue": 5},
        {"Id": "6", "RateValue": "7"},
    ],
}
US = CompanyContext(is_us=True)
GB = CompanyContext(is_us=False)


async def test_an_invoice_looks_up_only_the_lists_it_names_once() -> None:
    api = FakeApi(TABLES)
    lookups = CompanyLookups()
    names = await lookups.invoice_names(cast(RealmApi, api), full_invoice(), US)
    assert resolve_name(names.terms, "NET 30") == "3"
    assert resolve_name(names.classes, "retail:online") == "2"
    assert resolve_name(names.classes, "Online") == "2"
    assert resolve_name(names.classes, "6") is None  # inactive
    assert resolve_name(names.departments, "5") == "5"
    await lookups.invoice_names(cast(RealmApi, api), full_invoice(), US)
    assert sorted(q.split()[3] for q in api.queries) == ["Class", "Department", "Term"]
    plain = await lookups.invoice_names(
        cast(RealmApi, api),
        full_invoice(
            terms=None, department=None, lines=[full_invoice().lines[2]], **{"class": None}
        ),
        US,
    )
    assert (plain.terms, plain.classes, plain.departments) == ({}, {}, {})


async def test_a_name_the_cached_list_lacks_is_looked_up_again() -> None:
    api = FakeApi({"Term": [{"Id": "3", "Name": "Net 30"}]})
    lookups = CompanyLookups()
    assert resolve_name(await lookups.name_list(cast(RealmApi, api), "Term", ["Net 30"]), "3")
    api.tables["Term"].append({"Id": "7", "Name": "Net 45"})
    table = await lookups.name_list(cast(RealmApi, api), "Term", ["Net 45"])
    assert resolve_name(table, "Net 45") == "7"
    assert len(api.queries) == 2
    many = FakeApi({"Class": [{"Id": str(n), "Name": f"C{n}"} for n in range(1, 2502)]})
    table = await CompanyLookups().name_list(cast(RealmApi, many), "Class")
    assert resolve_name(table, "c2501") == "2501"
    assert [q.split()[5] for q in many.queries] == ["1", "1001", "2001"]
    with pytest.raises(ValueError, match="no name list"):
        await lookups.name_list(cast(RealmApi, api), "Account")


async def test_a_non_us_invoice_with_the_callers_tax_looks_up_codes_and_their_rates() -> None:
    api = FakeApi(TABLES)
    lookups = CompanyLookups()
    lines = [full_invoice().lines[2].model_copy(update={"tax_code": "20.0% s"})]
    plain = full_invoice(terms=None, department=None, lines=lines, **{"class": None})
    names = await lookups.invoice_names(cast(RealmApi, api), plain, GB)
    assert resolve_name(names.tax_codes, "20.0% S") == "2"
    assert names.code_rates == {}  # no tax of the caller's: no rates needed
    taxed = plain.model_copy(update={"tax_total": Decimal("1.00")})
    names = await lookups.invoice_names(cast(RealmApi, api), taxed, GB)
    assert names.code_rates == {
        "2": (("4", Decimal(20)),),
        "7": (("5", Decimal(5)), ("6", Decimal(7))),
    }  # code 9's rate is unknown: its tax is left to QBO
    assert sorted(q.split()[3] for q in api.queries) == ["TaxCode", "TaxRate"]
    by_id = plain.model_copy(update={"lines": [lines[0].model_copy(update={"tax_code": "2"})]})
    before = len(api.queries)
    await lookups.invoice_names(cast(RealmApi, api), by_id, GB)
    assert len(api.queries) == before  # ids need no lookup, cached or not
