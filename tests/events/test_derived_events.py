"""A credit memo's application to invoices is a record of its own (QBO: a Payment of total
0), whose events are derived at intake from the credit memo's, in the same statement."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.models import Event
from tests.support.factories import credit_memo_event, operation_event

APPLIED = [{"invoice_external_id": "inv-1", "amount": "50.00"}]


async def _events(factory: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with factory() as session:
        rows = await session.execute(
            select(Event.entity_type, Event.operation, Event.external_id).order_by(
                Event.received_at, Event.entity_type
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _post(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> int:
    answer = await client.post("/events", json=body, headers=auth)
    assert answer.status_code in (200, 202), answer.text
    return answer.status_code


async def test_an_applied_credit_is_derived_once_and_undone_before_a_delete(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    plain = credit_memo_event("cm-0")
    assert await _post(client, auth, plain) == 202
    applied = credit_memo_event("cm-1", data={"applied_to": APPLIED})
    assert await _post(client, auth, applied) == 202
    assert await _post(client, auth, applied) == 200  # a resend derives nothing more
    assert await _events(session_factory) == [
        ("credit_memo", "upserted", "cm-0"),
        ("applied_credit", "upserted", "cm-1"),
        ("credit_memo", "upserted", "cm-1"),
    ]
    # The credit taken back: the application is updated to none.
    assert await _post(client, auth, credit_memo_event("cm-1", data={"applied_to": []})) == 202
    # Deleting a credit memo that applied credit unapplies it first; one that never applied
    # any, nothing more.
    assert await _post(client, auth, operation_event("credit_memo.deleted", "cm-1")) == 202
    assert await _post(client, auth, operation_event("credit_memo.deleted", "cm-0")) == 202
    assert (await _events(session_factory))[3:] == [
        ("applied_credit", "upserted", "cm-1"),
        ("credit_memo", "upserted", "cm-1"),
        ("applied_credit", "deleted", "cm-1"),
        ("credit_memo", "deleted", "cm-1"),
        ("credit_memo", "deleted", "cm-0"),
    ]
    async with session_factory() as session:
        derived = await session.scalar(
            select(Event).where(Event.entity_type == "applied_credit").limit(1)
        )
    assert derived is not None
    assert derived.event_id.startswith("derived:applied_credit:")
    assert derived.payload["data"] == {
        "external_id": "cm-1",
        "customer_external_id": "cust-1",
        "date": "2026-11-25",
        "applied_to": APPLIED,
    }


async def test_a_batch_derives_the_applied_credit_in_its_statement(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    events = [credit_memo_event("cm-1", data={"applied_to": APPLIED}), credit_memo_event("cm-2")]
    answer = await client.post("/events/batch", json={"events": events}, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2
    assert sorted(await _events(session_factory)) == [
        ("applied_credit", "upserted", "cm-1"),
        ("credit_memo", "upserted", "cm-1"),
        ("credit_memo", "upserted", "cm-2"),
    ]


async def test_a_delete_that_came_first_is_derived_with_the_state_it_follows(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def derived() -> list[tuple[str, str]]:
        async with session_factory() as session:
            rows = await session.execute(
                select(Event.operation, Event.occurred_at)
                .where(Event.entity_type == "applied_credit")
                .order_by(Event.occurred_at)
            )
            return [(op, at.isoformat()) for op, at in rows]

    # The delete arrives first: no credit is applied yet, so it derives nothing by itself.
    delete = operation_event("credit_memo.deleted", "cm-1", occurred_at="2026-11-26T09:00:00Z")
    assert await _post(client, auth, delete) == 202
    assert await derived() == []
    applied = credit_memo_event("cm-1", data={"applied_to": APPLIED})
    assert await _post(client, auth, applied) == 202
    # The application, then its undoing at the delete's time: the credit memo's delete
    # waits for both, and QBO gets the credit unapplied before the credit memo goes.
    expected = [("upserted", "2026-11-25T10:00:00+00:00"), ("deleted", "2026-11-26T09:00:00+00:00")]
    assert await derived() == expected
    assert await _post(client, auth, applied) == 200
    assert await _post(client, auth, delete) == 200
    assert await derived() == expected  # resends derive nothing more


async def test_a_batch_with_a_credit_memo_and_its_delete_unapplies_the_credit_first(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # The two in one statement: neither is stored before the other, in either order of ids.
    for n, ids in enumerate((("a", "b"), ("b", "a"))):
        ext = f"cm-{n}"
        memo = credit_memo_event(ext, data={"applied_to": APPLIED}, event_id=f"{ids[0]}-{n}")
        delete = operation_event(
            "credit_memo.deleted", ext, occurred_at="2026-11-26T09:00:00Z", event_id=f"{ids[1]}-{n}"
        )
        answer = await client.post("/events/batch", json={"events": [memo, delete]}, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 2
    assert sorted(await _events(session_factory)) == [
        ("applied_credit", "deleted", "cm-0"),
        ("applied_credit", "deleted", "cm-1"),
        ("applied_credit", "upserted", "cm-0"),
        ("applied_credit", "upserted", "cm-1"),
        ("credit_memo", "deleted", "cm-0"),
        ("credit_memo", "deleted", "cm-1"),
        ("credit_memo", "upserted", "cm-0"),
        ("credit_memo", "upserted", "cm-1"),
    ]
