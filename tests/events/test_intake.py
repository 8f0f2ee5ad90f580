"""POST /events: durable, idempotent, and strict about bad input."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from tests.support.factories import (
    customer_event,
    invoice_event,
    item_event,
    payment_event,
    ref_event,
)
from tests.support.helpers import count_events


@pytest.mark.parametrize(
    "body",
    [
        customer_event(),
        item_event(),
        invoice_event(),
        payment_event(),
        ref_event("customer.deactivated", "cust-1"),
        ref_event("item.deactivated", "item-1"),
        ref_event("invoice.voided", "inv-1"),
        ref_event("invoice.deleted", "inv-1"),
        ref_event("payment.voided", "pay-1"),
        ref_event("payment.deleted", "pay-1"),
    ],
    ids=lambda b: b["type"],
)
async def test_every_event_type_is_accepted_and_durable(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
) -> None:
    response = await client.post("/events", json=body, headers=auth)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "pending"
    assert answer["links"]["self"] == f"/events/{answer['id']}"
    # Committed before the answer: a separate session sees the row.
    async with session_factory() as session:
        row = await session.get(Event, answer["id"])
    assert row is not None
    assert row.source == "billing"
    assert row.type == body["type"]
    assert row.external_id == body["data"]["external_id"]
    assert row.realm_id == body["realm_id"]


async def test_money_is_kept_as_decimal_strings(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.post("/events", json=invoice_event(), headers=auth)
    async with session_factory() as session:
        row = await session.get(Event, response.json()["id"])
    assert row is not None
    assert row.payload["data"]["lines"][1]["unit_price"] == "99.99"
    assert row.payload["data"]["lines"][1]["amount"] == "50.00"


async def test_same_event_again_answers_200_with_the_original(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = customer_event()
    first = await client.post("/events", json=body, headers=auth)
    # Same content, different formatting and key order: still the same event.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    second = await client.post(
        "/events", content=reordered, headers={**auth, "content-type": "application/json"}
    )

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert await count_events(session_factory) == 1


async def test_same_event_id_with_another_body_is_a_conflict(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = customer_event()
    first = await client.post("/events", json=body, headers=auth)
    changed = {**body, "data": {**body["data"], "display_name": "Someone else"}}
    second = await client.post("/events", json=changed, headers=auth)

    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["existing_id"] == first.json()["id"]
    assert await count_events(session_factory) == 1


async def test_event_ids_are_unique_per_source_not_globally(
    client: httpx.AsyncClient, make_key: Any, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    body = customer_event()
    for name in ("billing", "crm"):
        key = await make_key(name, ["events:write"])
        response = await client.post(
            "/events", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 202
    assert await count_events(session_factory) == 2


async def test_identical_concurrent_requests_create_one_row(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = customer_event()
    responses = await asyncio.gather(
        *(client.post("/events", json=body, headers=auth) for _ in range(10))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_events(session_factory) == 1


def _pointers(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["pointer"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (customer_event(data={"display_name": "Acme: London"}), "/data/display_name"),
        (customer_event(data={"display_name": "Tab\there"}), "/data/display_name"),
        (customer_event(data={"display_name": "x" * 501}), "/data/display_name"),
        (customer_event(data={"given_name": "y" * 101}), "/data/given_name"),
        (customer_event(data={"email": "not-an-address"}), "/data/email"),
        (customer_event(data={"currency": "usd"}), "/data/currency"),
        (customer_event(data={"nickname": "extra"}), "/data/nickname"),
        (customer_event(realm_id="abc"), "/realm_id"),
        (customer_event(occurred_at="2026-11-25T10:00:00"), "/occurred_at"),
        # Year 0 in UTC: PostgreSQL cannot hold it.
        (customer_event(occurred_at="0001-01-01T00:00:00+03:01"), "/occurred_at"),
        (customer_event(event_id=""), "/event_id"),
        (customer_event(event_id="a\u0000b"), "/event_id"),
        (customer_event(data={"company_name": "Nul\u0000Ltd"}), "/data/company_name"),
        (item_event(data={"name": "n" * 101}), "/data/name"),
        (item_event(data={"unit_price": 12.5}), "/data/unit_price"),
        (item_event(data={"unit_price": "12.505"}), "/data/unit_price"),
        (item_event(data={"type": "inventory"}), "/data/type"),
        (invoice_event(data={"lines": []}), "/data/lines"),
        (invoice_event(data={"number": "N" * 22}), "/data/number"),
        (invoice_event(data={"due_date": "2026-01-01"}), "/data/due_date"),
        (
            invoice_event(
                data={
                    "lines": [
                        {
                            "item_external_id": "i",
                            "quantity": "3",
                            "unit_price": "1.10",
                            "amount": "3.31",
                        }
                    ]
                }
            ),
            "/data/lines/0/amount",
        ),
        (
            payment_event(
                data={
                    "total": "10.00",
                    "applied_to": [{"invoice_external_id": "i", "amount": "10.01"}],
                }
            ),
            "/data/applied_to",
        ),
        (
            payment_event(data={"applied_to": [{"invoice_external_id": "i", "amount": "0"}]}),
            "/data/applied_to/0/amount",
        ),
        (
            ref_event("invoice.voided", "x", data={"external_id": "x", "reason": "y"}),
            "/data/reason",
        ),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    pointer: str,
) -> None:
    response = await client.post("/events", json=body, headers=auth)

    assert pointer in _pointers(response)
    assert await count_events(session_factory) == 0


@pytest.mark.parametrize("amount", ["0.01", "0.05", "0.1", "0.10", "0.50", "0.99", "1", "12.50"])
async def test_small_amounts_and_quantities_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str], amount: str
) -> None:
    payment = payment_event(
        data={"total": amount, "applied_to": [{"invoice_external_id": "i", "amount": amount}]}
    )
    assert (await client.post("/events", json=payment, headers=auth)).status_code == 202
    line = {"item_external_id": "i", "quantity": amount, "unit_price": "2.00"}
    line["amount"] = str((Decimal(amount) * 2).quantize(Decimal("0.01")))
    invoice = invoice_event(data={"lines": [line]})
    assert (await client.post("/events", json=invoice, headers=auth)).status_code == 202


@pytest.mark.parametrize("zero", ["0", "0.0", "0.00"])
async def test_zero_is_not_a_positive_amount_or_quantity(
    client: httpx.AsyncClient, auth: dict[str, str], zero: str
) -> None:
    payment = payment_event(data={"applied_to": [{"invoice_external_id": "i", "amount": zero}]})
    assert "/data/applied_to/0/amount" in _pointers(
        await client.post("/events", json=payment, headers=auth)
    )
    line = {"item_external_id": "i", "quantity": zero, "unit_price": "2.00", "amount": "0.00"}
    invoice = invoice_event(data={"lines": [line]})
    assert "/data/lines/0/quantity" in _pointers(
        await client.post("/events", json=invoice, headers=auth)
    )


async def test_every_bad_field_is_listed(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = customer_event(realm_id="x", data={"display_name": "a:b", "email": "nope"})
    pointers = _pointers(await client.post("/events", json=body, headers=auth))
    assert {"/realm_id", "/data/display_name", "/data/email"} <= pointers


async def test_unknown_type_is_refused(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = customer_event(type="customer.merged")
    response = await client.post("/events", json=body, headers=auth)
    assert response.status_code == 422
    assert "type must be one of" in response.text


async def test_malformed_json_is_a_4xx(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/events", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_undecodable_body_is_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/events", content=b"\xff\xfe{", headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"


async def test_body_over_one_mebibyte_is_413(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = customer_event()
    body["padding"] = "x" * (1024 * 1024)
    response = await client.post("/events", json=body, headers=auth)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_events(session_factory) == 0


async def test_body_streamed_without_length_is_also_capped(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/events", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_events_for_an_unconnected_realm_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/events", json=customer_event(realm_id="42"), headers=auth)
    assert response.status_code == 202
