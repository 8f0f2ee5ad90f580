"""The webhooks of our own writes, end to end with the emulator's webhooks on: recognised
from the notification and what QBO answered our write (MetaData.LastUpdatedTime), with no
read from QBO; a change someone else made after our write is still read and found."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.drift.jobs import handle_sight
from app.drift.models import ChangeStatus, QboChange, UnmappedRecord
from app.drift.sightings import Sight
from app.events.models import Event, EventStatus
from app.mappings.models import EntityMapping
from app.sync.owned import QBO_ENTITIES
from tests.fixtures.drift import Receiver, drift_of, qbo_id, settle, webhooks
from tests.fixtures.world import World
from tests.support.factories import (
    customer_event,
    invoice_event,
    item_event,
    payment_event,
    ref_event,
)

# Calls that are not a read of one record by id.
NOT_READS = {"GET query", "GET cdc", "GET preferences", "GET companyinfo"}


async def record_reads(world: World) -> dict[str, int]:
    """The emulator's reads of one record by id (`GET <entity>`) for the world's company."""
    counters = await world.books.counters(world.realm)
    return {
        endpoint: int(n)
        for endpoint, n in counters["by_endpoint"].items()
        if endpoint.startswith("GET ") and endpoint not in NOT_READS
    }


async def settle_changes(world: World) -> list[QboChange]:
    """Settle until every sighting of the company has been worked off; returns them all."""
    async with asyncio.timeout(30):
        while True:
            await settle(world)
            async with world.factory() as session:
                rows = list(
                    (
                        await session.scalars(
                            select(QboChange).where(QboChange.realm_id == world.realm)
                        )
                    ).all()
                )
            if all(r.status == ChangeStatus.DONE.value for r in rows):
                return rows
            await asyncio.sleep(0.2)


@pytest.fixture
def echo_world(hooked: tuple[World, Receiver]) -> tuple[World, Receiver]:
    world, receiver = hooked
    # A create's webhook that beats its mapping's commit is looked at again soon after.
    world.settings = world.settings.model_copy(update={"drift_unmapped_recheck_seconds": 0.3})
    return world, receiver


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_the_webhooks_of_our_own_writes_cost_no_read(
    echo_world: tuple[World, Receiver], fmt: str
) -> None:
    world, receiver = echo_world
    await webhooks(world, format=fmt)
    # A backlog (batch writes), then single writes: void, delete, deactivate.
    await world.send(
        customer_event("c1"),
        customer_event("c2"),
        item_event("item-1"),
        item_event("item-2"),
        invoice_event("inv-1", customer="c1"),
        invoice_event("inv-2", customer="c2", data={"number": "INV-0002"}),
        invoice_event("inv-3", customer="c2", data={"number": "INV-0003"}),
        payment_event("pay-1", customer="c1"),
    )
    await world.send(
        ref_event("invoice.voided", "inv-2"),
        ref_event("invoice.deleted", "inv-3"),
        ref_event("item.deactivated", "item-2"),
    )
    changes = await settle_changes(world)
    async with world.factory() as session:
        mappings = list(
            (
                await session.scalars(
                    select(EntityMapping).where(EntityMapping.realm_id == world.realm)
                )
            ).all()
        )
        rows = await session.execute(select(UnmappedRecord.entity, UnmappedRecord.qbo_id))
        unmapped = {(r.entity, r.qbo_id) for r in rows}
    ours = {(QBO_ENTITIES[m.entity_type], m.qbo_id) for m in mappings}
    assert not ours & unmapped  # no create of ours was taken for someone else's

    # Every record's own writes, and what they changed in other records (the customers'
    # balances, the invoice the payment paid), were announced and recognised unread.
    mine = [c for c in changes if (c.entity, c.qbo_id) in ours]
    kinds = {(c.entity, c.operation) for c in mine}
    assert {("Customer", "Create"), ("Invoice", "Void"), ("Invoice", "Delete")} <= kinds
    assert {("Customer", "Update"), ("Invoice", "Update"), ("Item", "Update")} <= kinds
    assert len(mine) >= 13
    read = [c for c in mine if not (c.result or "").endswith("(not read)")]
    assert [(c.entity, c.operation, c.result) for c in read] == []
    assert await record_reads(world) == {}
    assert await drift_of(world) == []
    assert receiver.of_kind("drift.found") == []
    # What each write answered is kept, in UTC, with what it did.
    writes = {m.external_id: m.qbo_last_write for m in mappings}
    assert writes == {
        "c1": "Create",
        "c2": "Create",
        "item-1": "Create",
        "item-2": "Update",
        "inv-1": "Create",
        "inv-2": "Void",
        "inv-3": "Delete",
        "pay-1": "Create",
    }
    for mapping in mappings:
        assert mapping.qbo_updated_at is not None
        assert mapping.qbo_updated_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_an_edit_in_qbo_after_our_write_is_still_read_and_found(
    echo_world: tuple[World, Receiver], fmt: str
) -> None:
    world, receiver = echo_world
    await webhooks(world, format=fmt)
    await world.send(customer_event("c1"))
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    # Someone edits it right after our create, most likely within the same second.
    await world.books.edit(world.realm, "customers", customer, DisplayName="Theirs 1")
    await settle_changes(world)
    [first] = await drift_of(world)
    assert first["changes"]["DisplayName"] == {"ours": "Customer c1", "theirs": "Theirs 1"}
    assert await record_reads(world) == {"GET customer": 1}

    # Our update, then theirs. In the legacy format two updates of one second are one
    # notification (the same lastUpdated), so each comes a second later there.
    if fmt == "legacy":
        world.books.store.clock.advance(1)
    await world.send(customer_event("c1", data={"email": "new@example.com"}))
    if fmt == "legacy":
        world.books.store.clock.advance(1)
    await world.books.edit(world.realm, "customers", customer, DisplayName="Theirs 2")
    changes = await settle_changes(world)
    drifts = await drift_of(world)
    assert len(drifts) == 2
    latest = next(d for d in drifts if d["id"] != first["id"])
    assert latest["changes"]["DisplayName"]["theirs"] == "Theirs 2"
    assert latest["found_by"] == "webhook"
    # A read per change of theirs, and our update's re-read when QBO refused its SyncToken
    # (their first edit moved it on: 5010); none for the webhooks of our own writes.
    assert await record_reads(world) == {"GET customer": 3}
    # (The emulator's seeded item is announced too: not ours, not read.)
    ours = [c for c in changes if (c.entity, c.qbo_id) == ("Customer", customer)]
    read = [c.result for c in ours if not (c.result or "").endswith("(not read)")]
    assert read == ["edited: reported", "edited: reported"]
    unread = [c for c in ours if (c.result or "").endswith("(not read)")]
    assert sorted(c.operation for c in unread) == ["Create", "Update"]
    assert len(receiver.of_kind("drift.found")) == 2


async def _sight(world: World, entity: str, qbo_id: str, changed_at: Any) -> Sight:
    change = QboChange(
        id=uuid.uuid4(),
        dedupe_key=f"test:{uuid.uuid4()}",
        realm_id=world.realm,
        entity=entity,
        qbo_id=qbo_id,
        operation="Update",
        changed_at=changed_at,
        found_by="webhook",
        status=ChangeStatus.PENDING.value,
        attempts=1,
    )
    async with world.factory() as session, session.begin():
        session.add(change)
    return Sight(change.id, world.realm, entity, qbo_id, "Update", changed_at, "webhook", None, 1)


async def _result(world: World, sight: Sight) -> tuple[str, str | None]:
    async with world.factory() as session:
        change = await session.get(QboChange, sight.id)
    assert change is not None
    return change.status, change.result


async def test_a_change_made_by_a_write_still_being_recorded_waits_instead_of_a_read(
    echo_world: tuple[World, Receiver],
) -> None:
    """The race: QBO answered our invoice and announced the customer's new balance, but the
    invoice's mapping is not committed yet. The customer's change is looked at again
    shortly, and then recognised, with no read."""
    world, _ = echo_world
    await webhooks(world, url=None)  # the changes are made by hand here
    await world.send(customer_event("c1"), item_event("item-1"), item_event("item-2"))
    await world.send(invoice_event("inv-1", customer="c1"))
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    async with world.factory() as session, session.begin():
        invoice = await session.scalar(
            select(EntityMapping).where(
                EntityMapping.realm_id == world.realm, EntityMapping.external_id == "inv-1"
            )
        )
        assert invoice is not None
        assert invoice.qbo_updated_at is not None
        written_at = invoice.qbo_updated_at
        # As it was between QBO's answer and the commit: the event syncing, the mapping
        # still holding what an earlier write answered.
        invoice.qbo_updated_at = written_at - timedelta(minutes=5)
        await session.execute(
            update(Event)
            .where(Event.realm_id == world.realm, Event.external_id == "inv-1")
            .values(status=EventStatus.SYNCING.value)
        )
    deps = world.sync_deps()
    sight = await _sight(world, "Customer", customer, written_at)
    await handle_sight(deps, sight)
    status, result = await _result(world, sight)
    assert status == ChangeStatus.PENDING.value
    assert result is not None
    assert "being recorded" in result
    assert await record_reads(world) == {}

    # The invoice's transaction commits.
    async with world.factory() as session, session.begin():
        await session.execute(
            update(EntityMapping)
            .where(EntityMapping.realm_id == world.realm, EntityMapping.external_id == "inv-1")
            .values(qbo_updated_at=written_at)
        )
        await session.execute(
            update(Event)
            .where(Event.realm_id == world.realm, Event.external_id == "inv-1")
            .values(status=EventStatus.SYNCED.value)
        )
    again = dataclasses.replace(sight, attempts=2)
    await handle_sight(deps, again)
    status, result = await _result(world, sight)
    assert status == ChangeStatus.DONE.value
    assert result is not None
    assert result.startswith("no drift")
    assert "inv-1" in result
    assert await record_reads(world) == {}

    # A change of the customer a second later is no echo of anything: read.
    later = await _sight(world, "Customer", customer, written_at + timedelta(seconds=1))
    await handle_sight(deps, later)
    status, result = await _result(world, later)
    assert status == ChangeStatus.DONE.value
    assert await record_reads(world) == {"GET customer": 1}
