"""Hostile strings (quotes, backslashes, SQL and QBO query syntax, markup, emoji, RTL marks,
control characters) in every text field of customer, item, invoice and payment events. The
fields are found by walking the intake models, so a new field is covered by itself. Each
value is either refused with 422 naming its field, or stored verbatim; and the stored ones
reach QBO (the emulator) exactly, including through the name queries that adopt existing
records. tests/e2e/test_sync_cases.py::test_hostile_names_are_queried_safely_and_round_trip
covers the name-collision path with one such name; this covers every field and string."""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import annotated_types
import httpx
from pydantic import BaseModel, StringConstraints

from app.events.models import Event
from app.events.schemas import CustomerData, InvoiceData, ItemData, PaymentData
from tests.fixtures.ops import log_in
from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event, payment_event

HOSTILE = [
    "O'Brien \\' OR Name LIKE '%",
    'Say "hi" \\" \\\\ back\\slash',
    "'; DROP TABLE events; --",
    "x' AND Id > '0' ORDERBY Id STARTPOSITION 1 MAXRESULTS 1000",
    "<script>alert(1)</script> &amp; {{7*7}} ${7*7}",
    "Zoë Ångström 北京 🚀👩\u200d👩\u200d👧 \u200f\u05e9\u05dc\u05d5\u05dd\u200e \u202egnp.exe",
    "ctl \x01\x07\x1b[31mred\x7f\u0085\u2028\u200b end",
]
# External ids are printable ASCII without spaces, by contract; these are as hostile as
# that allows (the marker and the disambiguated names carry them into QBO).
HOSTILE_IDS = ["o'b\\'r%_", '"x";--', "<b>&amp;", "a\\\\'OR'1'='1"]


def _invoice_with_shipping() -> dict[str, Any]:
    """An invoice whose optional parts with text fields are there (shipping's tax code)."""
    return invoice_event(data={"shipping": {"amount": "5.00"}})


BUILDERS: dict[str, tuple[type[BaseModel], Callable[..., dict[str, Any]]]] = {
    "customer": (CustomerData, customer_event),
    "item": (ItemData, item_event),
    "invoice": (InvoiceData, _invoice_with_shipping),
    "payment": (PaymentData, payment_event),
}


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(the base type, its metadata) of an annotation, through Optional and Annotated."""
    metadata: list[Any] = []
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata.extend(extra)
        elif isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
            typing.Union
        ):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation, metadata


def text_fields(model: type[BaseModel], path: tuple[Any, ...] = ()) -> Iterator[Any]:
    """(path in `data`, max length or None) of every str field."""
    for name, field in model.model_fields.items():
        base, metadata = _unwrap(field.annotation)
        metadata = [*metadata, *field.metadata]
        where = (*path, name)
        if typing.get_origin(base) is list:
            base, more = _unwrap(typing.get_args(base)[0])
            metadata, where = more, (*where, 0)
        if isinstance(base, type) and issubclass(base, BaseModel):
            yield from text_fields(base, where)
        elif base is str:
            limit = None
            for item in metadata:
                if isinstance(item, StringConstraints):
                    limit = item.max_length or limit
                elif isinstance(item, annotated_types.MaxLen):
                    limit = item.max_length
            yield where, limit


def put(body: dict[str, Any], path: tuple[Any, ...], value: str) -> None:
    target: Any = body["data"]
    for step in path[:-1]:
        if isinstance(step, str) and step not in target:
            target[step] = {}
        target = target[step]
    target[path[-1]] = value


def get(body: dict[str, Any], path: tuple[Any, ...]) -> Any:
    target: Any = body["data"]
    for step in path:
        target = target[step]
    return target


def fitted(value: str, limit: int | None) -> str:
    return value[:limit].strip() if limit else value


def pointer(path: tuple[Any, ...]) -> str:
    return "/data/" + "/".join(str(p) for p in path)


async def test_every_text_field_refuses_with_its_name_or_keeps_verbatim(world: World) -> None:
    cases: list[tuple[str, tuple[Any, ...], str, dict[str, Any]]] = []
    for kind, (model, build) in BUILDERS.items():
        fields = list(text_fields(model))
        assert len(fields) >= 3, kind
        for path, limit in fields:
            for hostile in HOSTILE + HOSTILE_IDS:
                body = copy.deepcopy(build())
                value = fitted(hostile, limit)
                put(body, path, value)
                cases.append((kind, path, value, body))
    seen = {(k, p) for k, p, _, _ in cases}
    assert ("customer", ("billing_address", "line1")) in seen
    assert ("invoice", ("lines", 0, "description")) in seen
    assert ("payment", ("applied_to", 0, "invoice_external_id")) in seen

    accepted: dict[tuple[str, tuple[Any, ...]], int] = {}
    for start in range(0, len(cases), 400):
        chunk = cases[start : start + 400]
        answer = await world.client.post(
            "/events/batch", json={"events": [c[3] for c in chunk]}, headers=world.auth
        )
        assert answer.status_code == 200, answer.text[:500]
        for (kind, path, value, _), result in zip(chunk, answer.json()["results"], strict=True):
            if result["status"] == 422:
                where = f"/events/{result['index']}{pointer(path)}"
                assert {e["pointer"] for e in result["errors"]} == {where}, (kind, path, value)
                continue
            assert result["status"] == 202, (kind, path, value, result)
            async with world.factory() as session:
                event = await session.get(Event, result["id"])
            assert event is not None
            assert get(event.payload, path) == value, (kind, path)
            accepted[(kind, path)] = accepted.get((kind, path), 0) + 1

    # Free text takes every hostile string as it is; only codes and ids refuse some.
    for kind, path in (
        ("customer", ("display_name",)),
        ("customer", ("billing_address", "city")),
        ("item", ("name",)),
        ("item", ("description",)),
        ("invoice", ("memo",)),
        ("invoice", ("lines", 0, "description")),
        ("payment", ("reference",)),
    ):
        assert accepted[(kind, path)] == len(HOSTILE) + len(HOSTILE_IDS), (kind, path)
    for kind, path in (("customer", ("external_id",)), ("invoice", ("currency",))):
        assert accepted.get((kind, path), 0) <= len(HOSTILE_IDS)


def hostile_records(i: int, text: str, ids: str) -> list[dict[str, Any]]:
    """A customer, an item, an invoice and a payment carrying `text` in every free-text
    field QBO receives, under hostile external ids."""
    name = fitted(text, 100)
    customer = customer_event(
        f"c{i}{ids}",
        data={
            "display_name": text,
            "company_name": name,
            "given_name": name,
            "family_name": name,
            "email": f"o'brien+{i}@example.com",
            "phone": fitted(text, 30),
            "billing_address": {
                "line1": text,
                "line2": text,
                "city": text,
                "region": text,
                "postal_code": fitted(text, 30),
                "country": text,
            },
        },
    )
    item = item_event(f"i{i}{ids}", data={"name": name, "description": text, "sku": name})
    line = {
        "item_external_id": f"i{i}{ids}",
        "description": text,
        "quantity": "1",
        "unit_price": "150.00",
        "amount": "150.00",
    }
    invoice = invoice_event(f"v{i}{ids}", f"c{i}{ids}", data={"lines": [line], "memo": text})
    invoice["data"].pop("number")  # sent only where the company uses custom numbers
    payment = payment_event(
        f"p{i}{ids}",
        f"c{i}{ids}",
        data={
            "total": "150.00",
            "reference": fitted(text, 21),
            "applied_to": [{"invoice_external_id": f"v{i}{ids}", "amount": "150.00"}],
        },
    )
    return [customer, item, invoice, payment]


async def test_hostile_text_reaches_qbo_exactly(world: World) -> None:
    w = await world.connect()
    # The items below are the company's own: adopted only where the settings allow it.
    w.settings = w.settings.model_copy(update={"item_adopt_existing_by_name": True})
    events: list[dict[str, Any]] = []
    adopted: dict[str, str] = {}
    for i, text in enumerate(HOSTILE):
        ids = HOSTILE_IDS[i % len(HOSTILE_IDS)]
        records = hostile_records(i, text, ids)
        events.extend(records)
        # Already in QBO under the same name: found by a query carrying the name, adopted.
        theirs = await w.books.create(
            w.realm,
            "Customer",
            {"DisplayName": text, "PrimaryEmailAddr": {"Address": f"o'brien+{i}@example.com"}},
        )
        adopted[records[0]["event_id"]] = theirs["Id"]
        item = await w.books.create(
            w.realm,
            "Item",
            {"Name": fitted(text, 100), "Type": "Service", "IncomeAccountRef": {"value": "1"}},
        )
        adopted[records[1]["event_id"]] = item["Id"]
    assert await w.send(*events) == {"synced": len(events)}

    customers = {c["Id"]: c for c in await w.records("customers")}
    items = {c["Id"]: c for c in await w.records("items")}
    invoices = {c["Id"]: c for c in await w.records("invoices")}
    payments = {c["Id"]: c for c in await w.records("payments")}
    # Adopted, none created twice (the emulator's company starts with one item of its own).
    assert len(customers) == len(items) - 1 == len(HOSTILE)
    for i, text in enumerate(HOSTILE):
        customer, item, invoice, payment = events[4 * i : 4 * i + 4]
        c = customers[(await w.event(customer))["qbo_id"]]
        assert c["Id"] == adopted[customer["event_id"]]
        assert c["DisplayName"] == text
        for field in ("GivenName", "FamilyName", "CompanyName"):
            assert c[field] == fitted(text, 100), field
        assert c["PrimaryPhone"]["FreeFormNumber"] == fitted(text, 30)
        address = c["BillAddr"]
        assert (address["Line1"], address["City"], address["Country"]) == (text, text, text)
        assert address["CountrySubDivisionCode"] == text
        assert customer["data"]["external_id"] in c["Notes"]

        it = items[(await w.event(item))["qbo_id"]]
        assert it["Id"] == adopted[item["event_id"]]
        assert (it["Name"], it["Description"]) == (fitted(text, 100), text)
        assert it["Sku"] == fitted(text, 100)

        inv = invoices[(await w.event(invoice))["qbo_id"]]
        assert inv["CustomerMemo"]["value"] == text
        assert inv["Line"][0]["Description"] == text
        assert invoice["data"]["external_id"] in inv["PrivateNote"]

        pay = payments[(await w.event(payment))["qbo_id"]]
        assert pay["PaymentRefNum"] == fitted(text, 21)


async def test_console_pages_escape_hostile_ids(world: World, client: httpx.AsyncClient) -> None:
    """External ids reach the ops console's pages; they are escaped there."""
    w = await world.connect()
    body = invoice_event("<script>alert(1)</script>", "<img/src=x/onerror=alert(1)>")
    await w.send(body)
    assert (await log_in(client, w.auth["Authorization"].removeprefix("Bearer "))).status_code
    for page in ("/ops", f"/ops/realms/{w.realm}"):
        answer = await client.get(page)
        assert answer.status_code == 200
        assert "<script>alert(1)" not in answer.text
        assert "<img/src" not in answer.text
