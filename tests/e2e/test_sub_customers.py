"""A sub-customer is a dependent like any other: it waits for its parent's create, dies at
once when the parent died, and a parent's deactivation waits for its children's events."""

from __future__ import annotations

from typing import Any

from tests.fixtures.world import World, event_of
from tests.support.factories import customer_event, ref_event


def at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00Z"


def _child(minute: int = 1, **data: Any) -> dict[str, Any]:
    return customer_event(
        "c1-site",
        occurred_at=at(minute),
        data={"display_name": "Site", "parent_external_id": "c1", **data},
    )


def _ours(rows: list[dict[str, Any]], external_id: str) -> dict[str, Any]:
    tag = f"qbo-sync:customer:{external_id}"
    (row,) = [r for r in rows if tag in str(r.get("Notes", "")).split()]
    return row


async def test_a_sub_customer_sent_first_waits_for_its_parent(world: World) -> None:
    w = await world.connect()
    child = _child()
    await w.post(child)
    assert await w.drain() == {"waiting_dependency": 1}
    waiting = await w.event(child)
    assert waiting["waiting_for"] == "customer:c1"

    assert await w.send(customer_event("c1", occurred_at=at(0))) == {"synced": 2}
    rows = await w.records("customers")
    assert _ours(rows, "c1-site")["ParentRef"]["value"] == _ours(rows, "c1")["Id"]


async def test_a_sub_customer_of_a_dead_parent_dies_at_once_naming_it(world: World) -> None:
    w = await world.connect()
    # A US company without multicurrency refuses a euro customer: the parent dies.
    dead_parent = customer_event("c1", occurred_at=at(0), data={"currency": "EUR"})
    sent = _child()
    counts = await w.send(dead_parent, sent)
    assert counts == {"dead": 2}, counts
    child = await event_of(w.factory, str(sent["event_id"]))
    assert child.last_error is not None
    assert child.last_error["category"] == "dependency"
    assert child.last_error["parent"] == "customer:c1"
    assert await w.records("customers") == []


async def test_a_parent_is_deactivated_after_its_sub_customers_earlier_event(
    world: World,
) -> None:
    w = await world.connect()
    await w.send(customer_event("c1", occurred_at=at(0)))
    events = [ref_event("customer.deactivated", "c1", occurred_at=at(2)), _child(1)]

    counts = await w.send(*events)

    assert counts == {"synced": 3}, counts
    rows = await w.records("customers")
    assert _ours(rows, "c1")["Active"] is False
    assert _ours(rows, "c1-site")["ParentRef"]["value"] == _ours(rows, "c1")["Id"]
