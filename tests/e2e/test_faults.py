"""Exactly once under faults: 500s, 503s and lost answers (applied, then 504) on a fifth of
all requests; every event ends synced and QBO holds no record twice."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.events.models import Event
from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event, payment_event


def _events(realm: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(40):
        events.append(customer_event(f"c{i}", realm_id=realm, data={"email": f"c{i}@example.com"}))
    for i in range(10):
        events.append(item_event(f"item-{i}", realm_id=realm, data={"sku": f"SKU-{i}"}))
    for i in range(60):
        line = {
            "item_external_id": f"item-{i % 10}",
            "quantity": "2",
            "unit_price": "10.00",
            "amount": "20.00",
        }
        events.append(
            invoice_event(f"inv-{i}", customer=f"c{i % 40}", realm_id=realm, data={"lines": [line]})
        )
    for i in range(50):
        applied = [{"invoice_external_id": f"inv-{i}", "amount": "20.00"}]
        events.append(
            payment_event(
                f"pay-{i}",
                customer=f"c{i % 40}",
                realm_id=realm,
                data={"total": "20.00", "applied_to": applied},
            )
        )
    for i in range(40):
        events.append(
            customer_event(
                f"c{i}",
                realm_id=realm,
                occurred_at="2026-11-25T11:00:00Z",
                data={"display_name": f"Renamed {i}", "email": f"c{i}@example.com"},
            )
        )
    return events


def _markers(rows: list[dict[str, Any]], field: str) -> Counter[str]:
    return Counter(
        token for row in rows for token in str(row.get(field, "")).split() if "qbo-sync:" in token
    )


async def test_faults_on_a_fifth_of_requests_lose_and_duplicate_nothing(world: World) -> None:
    realm = (await world.connect()).realm
    await world.books.faults(realm, error_500_rate=0.07, error_503_rate=0.07, timeout_rate=0.06)
    events = _events(realm)
    assert len(events) == 200
    await world.post(*events)

    counts = await world.drain(within=240, settle=())

    assert set(counts) <= {"synced", "superseded"}, counts
    served = (await world.books.counters(realm))["by_status"]
    assert int(served.get("500", 0)) > 0
    assert int(served.get("503", 0)) > 0
    assert int(served.get("504", 0)) > 0
    async with world.factory() as session:
        errors = (await session.scalars(select(Event.last_error))).all()
    assert errors.count(None) == len(errors)  # synced events keep no error

    customers = await world.books.records(realm, "customers")
    invoices = await world.books.records(realm, "invoices")
    payments = await world.books.records(realm, "payments")
    items = [i for i in await world.books.records(realm, "items") if i["Name"] != "Services"]
    assert max(_markers(customers, "Notes").values()) == 1
    assert len(_markers(customers, "Notes")) == 40
    assert len(invoices) == 60
    assert max(_markers(invoices, "PrivateNote").values()) == 1
    assert len(payments) == 50
    assert max(_markers(payments, "PrivateNote").values()) == 1
    assert sorted(i["Name"] for i in items) == sorted(f"Consulting item-{i}" for i in range(10))
    assert {c["DisplayName"] for c in customers if "qbo-sync" in str(c.get("Notes"))} == {
        f"Renamed {i}" for i in range(40)
    }
    balances = sorted(Decimal(str(i["Balance"])) for i in invoices)
    assert balances == [Decimal(0)] * 50 + [Decimal("20.00")] * 10
