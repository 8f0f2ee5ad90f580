"""Reference lists the emulator on main does not hold yet, answered in QBO's shapes.

TODO: the emulator's seed of PaymentMethod, Class, Department, Term and TaxRate records
(being added to app/emulator/seed.py) makes this stand-in unneeded; then these tests
create their records through the emulator instead. Shapes follow
../shared/qbo-reference/quickbooks-ruby-fixtures/{payment_methods,classes,departments,
terms,tax_rates}.xml.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import httpx

# Entities the stand-in answers queries of; everything else goes to the emulator.
EXTRA_ENTITIES = ("PaymentMethod", "Class", "Department", "Term", "TaxRate")
QUERY_PATH = re.compile(r"/v3/company/(?P<realm>[0-9]+)/query$")
ENTITY = re.compile(r"\bFROM\s+(?P<entity>\w+)", re.IGNORECASE)
PAGING = re.compile(r"STARTPOSITION\s+(\d+)\s+MAXRESULTS\s+(\d+)", re.IGNORECASE)


def _meta() -> dict[str, Any]:
    stamp = "2026-01-05T10:44:18-08:00"
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def payment_method(qbo_id: str, name: str, kind: str, active: bool = True) -> dict[str, Any]:
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "MetaData": _meta(),
        "Name": name,
        "Active": active,
        "Type": kind,
        "domain": "QBO",
        "sparse": False,
    }


def named(qbo_id: str, name: str, active: bool = True, **extra: Any) -> dict[str, Any]:
    """A Class or Department (FullyQualifiedName as QBO answers it)."""
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "MetaData": _meta(),
        "Name": name,
        "FullyQualifiedName": name,
        "Active": active,
        "domain": "QBO",
        "sparse": False,
        **extra,
    }


def standard_lists() -> dict[str, list[dict[str, Any]]]:
    return {
        "PaymentMethod": [
            payment_method("1", "Cash", "NON_CREDIT_CARD"),
            payment_method("2", "Check", "NON_CREDIT_CARD"),
            payment_method("3", "Visa", "CREDIT_CARD"),
            payment_method("5", "American Express", "CREDIT_CARD", active=False),
        ],
        "Class": [named("1", "Design", SubClass=False), named("2", "Old", False, SubClass=False)],
        "Department": [named("1", "Sales Department", SubDepartment=False)],
        "Term": [
            {**named("3", "Net 30"), "Type": "STANDARD", "DueDays": 30},
            {**named("4", "Old terms", False), "Type": "STANDARD", "DueDays": 10},
        ],
        "TaxRate": [
            {**named("1", "Mountain View"), "RateValue": 10, "AgencyRef": {"value": "1"}},
            {**named("2", "VAT 20"), "RateValue": "20.0", "AgencyRef": {"value": "2"}},
        ],
    }


class ListsTransport(httpx.AsyncBaseTransport):
    """Answers queries of EXTRA_ENTITIES from `records` (every realm alike, inactive
    ones included when the query names Active), counts every query it sees by entity,
    and passes the rest to `inner` (the emulator)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.records = standard_lists()
        self.queries: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        found = QUERY_PATH.search(request.url.path)
        if found is None:
            return await self.inner.handle_async_request(request)
        statement = request.url.params.get("query", "")
        entity_match = ENTITY.search(statement)
        entity = entity_match.group("entity") if entity_match else ""
        self.queries[entity] += 1
        if entity not in EXTRA_ENTITIES:
            return await self.inner.handle_async_request(request)
        rows = list(self.records.get(entity, []))
        if "active" not in statement.casefold():
            rows = [r for r in rows if r.get("Active", True)]
        paging = PAGING.search(statement)
        start, size = (int(paging.group(1)), int(paging.group(2))) if paging else (1, 100)
        page = rows[start - 1 : start - 1 + size]
        body: dict[str, Any] = {"QueryResponse": {}, "time": "2026-01-05T10:44:18.000-08:00"}
        if page:
            body["QueryResponse"] = {entity: page, "startPosition": start, "maxResults": len(page)}
        return httpx.Response(
            200,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "intuit_tid": "stand-in"},
        )
