"""Intake of the fields a billing system sends beyond lines and amounts: each bad one is a
422 problem naming it, nothing is stored; the good ones are kept as sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from app.events.schemas import PRIVATE_NOTE_ROOM
from tests.support.factories import customer_event, invoice_event, payment_event
from tests.support.helpers import count_events

ITEM_LINE = {"item_external_id": "i", "quantity": "1", "unit_price": "2.00", "amount": "2.00"}


def _problems(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["pointer"]: e["detail"] for e in response.json()["errors"]}


def _lines(*lines: dict[str, Any]) -> dict[str, Any]:
    return invoice_event(data={"lines": [*lines, ITEM_LINE]})


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        (
            _lines({"kind": "description"}),
            "/data/lines/0/description",
            "required on a line of kind 'description'",
        ),
        (
            _lines({"kind": "description", "description": "x", "amount": "1.00"}),
            "/data/lines/0/amount",
            "not allowed on a line of kind 'description'",
        ),
        (
            _lines({"kind": "subtotal", "item_external_id": "i"}),
            "/data/lines/0/item_external_id",
            "not allowed on a line of kind 'subtotal'",
        ),
        (
            _lines({"kind": "subtotal", "class": "Retail"}),
            "/data/lines/0/class",
            "not allowed",
        ),
        (
            _lines({"quantity": "1", "unit_price": "2.00", "amount": "2.00"}),
            "/data/lines/0/item_external_id",
            "required on a line of kind 'item'",
        ),
        (_lines({"kind": "discount"}), "/data/lines/0/kind", "'item', 'description'"),
        (
            invoice_event(data={"lines": [{"kind": "description", "description": "x"}]}),
            "/data/lines",
            "at least one line of kind 'item'",
        ),
        (invoice_event(data={"email": {"to": "nope"}}), "/data/email/to", "e-mail address"),
        (
            invoice_event(data={"email": {"to": f"{'a' * 95}@b.example"}}),
            "/data/email/to",
            "at most 100",
        ),
        (
            invoice_event(data={"email": {"cc": f"{'a' * 195}@b.example"}}),
            "/data/email/cc",
            "at most 200",
        ),
        (invoice_event(data={"email": {"from": "a@b.example"}}), "/data/email/from", "Extra"),
        (
            invoice_event(data={"ship_date": "2026-11-01"}),
            "/data/ship_date",
            "must not be before txn_date",
        ),
        (invoice_event(data={"ship_to": {"street": "x"}}), "/data/ship_to/street", "Extra"),
        (invoice_event(data={"terms": ""}), "/data/terms", "at least 1"),
        (invoice_event(data={"class": "x" * 101}), "/data/class", "at most 100"),
        (
            invoice_event(data={"private_note": "n" * (PRIVATE_NOTE_ROOM + 1)}),
            "/data/private_note",
            f"at most {PRIVATE_NOTE_ROOM}",
        ),
        (
            invoice_event(data={"private_note": "see qbo-sync:invoice:other"}),
            "/data/private_note",
            "marks records as ours",
        ),
        (
            invoice_event(data={"custom_fields": {"PO": "x" * 32}}),
            "/data/custom_fields/PO",
            "at most 31",
        ),
        (
            invoice_event(data={"custom_fields": {"A": "1", "B": "2", "C": "3", "D": "4"}}),
            "/data/custom_fields",
            "at most 3",
        ),
        (
            invoice_event(data={"exchange_rate": "1.2"}),
            "/data/exchange_rate",
            "needs the invoice's currency",
        ),
        (
            invoice_event(data={"currency": "EUR", "exchange_rate": "0"}),
            "/data/exchange_rate",
            "above zero",
        ),
        (
            invoice_event(data={"currency": "EUR", "exchange_rate": 1.2}),
            "/data/exchange_rate",
            "decimal string",
        ),
        (
            payment_event(data={"exchange_rate": "1.2"}),
            "/data/exchange_rate",
            "needs the payment's currency",
        ),
        (
            customer_event("c-1", data={"parent_external_id": "c-1"}),
            "/data/parent_external_id",
            "its own parent",
        ),
        (
            customer_event(data={"parent_external_id": "has space"}),
            "/data/parent_external_id",
            "pattern",
        ),
        (
            customer_event(data={"tax_exemption_reason_id": 9}),
            "/data/tax_exemption_reason_id",
            "only with taxable false",
        ),
        (
            customer_event(data={"taxable": False, "tax_exemption_reason_id": 18}),
            "/data/tax_exemption_reason_id",
            "less than or equal to 17",
        ),
        (
            customer_event(data={"taxable": False, "tax_exemption_reason_id": "9"}),
            "/data/tax_exemption_reason_id",
            "integer",
        ),
        (customer_event(data={"taxable": "no"}), "/data/taxable", "boolean"),
    ],
)
async def test_a_bad_field_is_a_422_naming_it(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    pointer: str,
    detail: str,
) -> None:
    problems = _problems(await client.post("/events", json=body, headers=auth))
    assert pointer in problems, problems
    assert detail in problems[pointer]
    assert await count_events(session_factory) == 0


async def test_every_field_is_accepted_and_kept_as_sent(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    data = {
        "currency": "EUR",
        "exchange_rate": "1.0825",
        "ship_date": "2026-11-26",
        "ship_to": {"line1": "1 Dock Street", "city": "Oakland"},
        "terms": "Net 30",
        "email": {"to": "ap@acme.example", "cc": "boss@acme.example"},
        "class": "Retail",
        "department": "North",
        "custom_fields": {"PO": "PO-981"},
        "private_note": "Agreed on the phone",
        "lines": [
            {**ITEM_LINE, "class": "Online"},
            {"kind": "description", "description": "Travel below"},
            {"kind": "subtotal"},
        ],
    }
    events = [
        invoice_event(data=data),
        customer_event(
            "c-2",
            data={"parent_external_id": "c-1", "taxable": False, "tax_exemption_reason_id": 9},
        ),
        payment_event(data={"currency": "EUR", "exchange_rate": "1.0825"}),
    ]
    for body in events:
        response = await client.post("/events", json=body, headers=auth)
        assert response.status_code == 202, response.text
    async with session_factory() as session:
        rows = (await session.scalars(select(Event))).all()
    by_type = {row.entity_type: row.payload["data"] for row in rows}
    invoice = by_type["invoice"]
    assert invoice["class"] == "Retail"
    assert invoice["lines"][0]["class"] == "Online"
    assert [line["kind"] for line in invoice["lines"]] == ["item", "description", "subtotal"]
    assert invoice["exchange_rate"] == "1.0825"
    assert invoice["email"] == {"to": "ap@acme.example", "cc": "boss@acme.example", "bcc": None}
    assert by_type["customer"]["parent_external_id"] == "c-1"
    assert by_type["customer"]["tax_exemption_reason_id"] == 9
    assert by_type["payment"]["exchange_rate"] == "1.0825"
