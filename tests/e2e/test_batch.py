"""Backlogs go out in batch calls; a Fault inside one item touches only that item."""

from __future__ import annotations

from tests.fixtures.world import World, event_of
from tests.support.factories import customer_event, invoice_event, item_event


async def test_a_backlog_is_batched_and_one_bad_item_dies_alone(world: World) -> None:
    realm = (await world.connect(custom_txn_numbers=True)).realm
    line = {"item_external_id": "item-1", "quantity": "1", "unit_price": "5.00", "amount": "5.00"}
    parents = [customer_event(f"c{i}", realm_id=realm) for i in range(20)]
    parents.append(item_event("item-1", realm_id=realm))
    answer = await world.client.post("/events/batch", json={"events": parents}, headers=world.auth)
    assert answer.json()["accepted"] == 21
    assert await world.drain() == {"synced": 21}
    before = (await world.books.counters(realm))["by_endpoint"]
    assert before.get("POST batch", 0) >= 1  # 21 records: at least one batch call

    invoices = [
        invoice_event(
            f"inv-{i}",
            customer=f"c{i}",
            realm_id=realm,
            data={"number": "SAME" if i in (3, 4) else f"N-{i}", "lines": [line]},
        )
        for i in range(20)
    ]
    # All at once, as a backlog (one intake call).
    answer = await world.client.post("/events/batch", json={"events": invoices}, headers=world.auth)
    assert answer.json()["accepted"] == 20
    counts = await world.drain()

    assert counts == {"synced": 40, "dead": 1}
    after = (await world.books.counters(realm))["by_endpoint"]
    assert after.get("POST batch", 0) > before.get("POST batch", 0)
    assert sorted(i["DocNumber"] for i in await world.books.records(realm, "invoices")) == sorted(
        ["SAME"] + [f"N-{i}" for i in range(20) if i not in (3, 4)]
    )
    dead = [await event_of(world.factory, str(e["event_id"])) for e in invoices[3:5]]
    lost = next(e for e in dead if e.status == "dead")
    assert lost.last_error is not None
    assert lost.last_error["code"] == "6140"
    assert lost.last_error["intuit_tid"]
