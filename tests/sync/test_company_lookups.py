"""The company's terms, classes and departments, looked up by name once and cached; a
name the cached list lacks is looked up again at once (just added in QBO)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from app.sync.company import CompanyLookups
from app.sync.payloads import resolve_name
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
}


async def test_an_invoice_looks_up_only_the_lists_it_names_once() -> None:
    api = FakeApi(TABLES)
    lookups = CompanyLookups()
    names = await lookups.invoice_names(cast(RealmApi, api), full_invoice())
    assert resolve_name(names.terms, "NET 30") == "3"
    assert resolve_name(names.classes, "retail:online") == "2"
    assert resolve_name(names.classes, "Online") == "2"
    assert resolve_name(names.classes, "6") is None  # inactive
    assert resolve_name(names.departments, "5") == "5"
    await lookups.invoice_names(cast(RealmApi, api), full_invoice())
    assert sorted(q.split()[3] for q in api.queries) == ["Class", "Department", "Term"]
    plain = await lookups.invoice_names(
        cast(RealmApi, api),
        full_invoice(
            terms=None, department=None, lines=[full_invoice().lines[2]], **{"class": None}
        ),
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
