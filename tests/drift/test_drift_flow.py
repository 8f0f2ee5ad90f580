"""Changes made inside QuickBooks, end to end: the emulator's webhooks (signed, either
format) reach the API, the worker classifies them against what we wrote, drift is
recorded, acted on per policy, shown in /drift and /sync-status, and announced to the
caller's callback; with webhooks lost, CDC finds the same changes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.core.hints import enqueue_cdc
from app.drift.intuit import sign
from app.drift.models import CdcCheckpoint, UnmappedRecord
from app.sync.payloads.text import has_marker
from tests.fixtures.drift import TOKEN, Receiver, drift_of, qbo_id, settle, webhooks
from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_an_accountants_edit_becomes_drift_and_a_signed_notice(
    hooked: tuple[World, Receiver], fmt: str
) -> None:
    world, receiver = hooked
    await webhooks(world, format=fmt)
    await world.send(customer_event("c1"))
    await settle(world)
    # Our own create came back as a webhook: no drift.
    assert await drift_of(world) == []
    assert receiver.of_kind("drift.found") == []

    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    await world.books.edit(world.realm, "customers", customer, DisplayName="Renamed in QBO")
    await settle(world)

    [drift] = await drift_of(world, realm_id=world.realm)
    assert drift["kind"] == "edited"
    assert drift["external_id"] == "c1"
    assert drift["found_by"] == "webhook"
    assert drift["policy"] == "report"
    assert drift["changes"] == {"DisplayName": {"ours": "Customer c1", "theirs": "Renamed in QBO"}}
    [notice] = receiver.of_kind("drift.found")
    assert notice["data"]["drift_id"] == drift["id"]
    assert notice["data"]["changes"] == drift["changes"]
    status = (await world.client.get("/sync-status", headers=world.auth)).json()
    assert status["realms"][0]["drift"] == {"edited": 1}

    # The same delivery again, and an older notice of the record arriving late: acknowledged,
    # and no second drift.
    last = (await world.books.client.get("/admin/webhooks/deliveries")).json()["attempts"][-1]
    headers = {"intuit-signature": last["signature"], "content-type": "application/json"}
    again = await world.client.post("/webhooks/intuit", content=last["body"], headers=headers)
    assert again.status_code == 200
    assert again.json()["new"] == 0
    late = json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": world.realm,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": customer,
                                "operation": "Update",
                                "lastUpdated": "2026-01-01T00:00:00.000Z",
                            }
                        ]
                    },
                }
            ]
        }
    ).encode()
    answer = await world.client.post(
        "/webhooks/intuit", content=late, headers={"intuit-signature": sign(late, TOKEN)}
    )
    assert answer.json() == {"received": 1, "new": 1}
    await settle(world)
    assert len(await drift_of(world)) == 1
    assert len(receiver.of_kind("drift.found")) == 1


async def test_bad_signatures_store_nothing(hooked: tuple[World, Receiver]) -> None:
    world, _ = hooked
    body = b'{"eventNotifications": []}'
    for headers in ({}, {"intuit-signature": "bm90IGl0"}, {"intuit-signature": ""}):
        answer = await world.client.post("/webhooks/intuit", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    bad = b"[{]"
    answer = await world.client.post(
        "/webhooks/intuit", content=bad, headers={"intuit-signature": sign(bad, TOKEN)}
    )
    assert answer.status_code == 400


async def test_void_and_delete_in_qbo(hooked: tuple[World, Receiver]) -> None:
    world, receiver = hooked
    await world.send(
        customer_event("c1"),
        item_event("item-1"),
        item_event("item-2"),
        invoice_event("inv-1", customer="c1"),
        invoice_event("inv-2", customer="c1", data={"number": "INV-0002"}),
    )
    await settle(world)
    assert await drift_of(world) == []
    invoices = await world.records("invoices")
    [first] = [r for r in invoices if has_marker(r.get("PrivateNote"), "invoice", "inv-1")]
    [second] = [r for r in invoices if has_marker(r.get("PrivateNote"), "invoice", "inv-2")]
    tokens = (
        await world.books.client.post(f"/admin/companies/{world.realm}/tokens", json={})
    ).json()
    voided = await world.books.client.post(
        f"/v3/company/{world.realm}/invoice",
        params={"operation": "void"},
        json={"Id": first["Id"], "SyncToken": first["SyncToken"]},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert voided.status_code == 200, voided.text
    gone = await world.books.client.delete(
        f"/admin/companies/{world.realm}/invoices/{second['Id']}"
    )
    assert gone.status_code == 200
    await settle(world)
    kinds = {d["external_id"]: d["kind"] for d in await drift_of(world)}
    assert kinds == {"inv-1": "voided", "inv-2": "deleted"}
    assert len(receiver.of_kind("drift.found")) == 2


async def test_cdc_finds_what_lost_webhooks_did_not_say(hooked: tuple[World, Receiver]) -> None:
    world, receiver = hooked
    await webhooks(world, loss_rate=1.0)
    await world.send(customer_event("c1"), item_event("item-1"))
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    item = await qbo_id(world, "items", "Name", "Consulting item-1")
    await world.books.edit(world.realm, "customers", customer, DisplayName="Edited, no webhook")
    await world.books.client.post(f"/admin/companies/{world.realm}/items/{item}/deactivate")
    await settle(world)
    assert await drift_of(world) == []  # every webhook was lost

    await enqueue_cdc(world.redis, [world.realm])
    await settle(world)
    drifts = {d["external_id"]: d for d in await drift_of(world)}
    assert {k: d["kind"] for k, d in drifts.items()} == {"c1": "edited", "item-1": "inactive"}
    assert {d["found_by"] for d in drifts.values()} == {"cdc"}
    assert len(receiver.of_kind("drift.found")) == 2
    async with world.factory() as session:
        checkpoint = await session.get(CdcCheckpoint, world.realm)
    assert checkpoint is not None
    assert checkpoint.last_error is None

    # A second pass finds nothing new.
    await enqueue_cdc(world.redis, [world.realm])
    await settle(world)
    assert len(await drift_of(world)) == 2


async def test_cdc_splits_a_window_of_more_than_1000_changes(
    hooked: tuple[World, Receiver],
) -> None:
    world, _ = hooked
    await webhooks(world, url=None)
    await world.send(customer_event("c1"))
    clock = world.books.store.clock
    for i in range(1100):
        if i % 100 == 0:
            clock.advance(1)  # QBO stamps changes to the second
        await world.books.create(world.realm, "Customer", {"DisplayName": f"Walk-in {i}"})
    clock.advance(1)
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    await world.books.edit(world.realm, "customers", customer, DisplayName="Edited last")

    await enqueue_cdc(world.redis, [world.realm])
    await settle(world)
    [drift] = await drift_of(world)
    assert (drift["external_id"], drift["kind"], drift["found_by"]) == ("c1", "edited", "cdc")
    walk_ins = {
        r["Id"] for r in await world.records("customers") if r["DisplayName"].startswith("Walk-in")
    }
    async with world.factory() as session:
        unmapped = set(
            await session.scalars(
                select(UnmappedRecord.qbo_id).where(UnmappedRecord.entity == "Customer")
            )
        )
    assert len(walk_ins) == 1100
    assert walk_ins <= unmapped  # none of the records made in QBO alone was skipped
    status = (await world.client.get("/sync-status", headers=world.auth)).json()
    assert status["realms"][0]["unmapped_in_qbo"]["Customer"] == len(unmapped)


async def test_restore_puts_our_fields_back_and_keeps_theirs(
    hooked: tuple[World, Receiver],
) -> None:
    world, receiver = hooked
    world.settings = world.settings.model_copy(update={"drift_policy_customer": "restore"})
    await world.send(customer_event("c1"))
    await settle(world)
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    await world.books.edit(world.realm, "customers", customer, DisplayName="Their name", Title="Dr")
    await settle(world)
    await settle(world)  # the restore event syncs, and its webhook comes back as an echo

    record = await world.books.record(world.realm, "customers", customer)
    assert record["DisplayName"] == "Customer c1"  # ours again
    assert record["Title"] == "Dr"  # theirs kept
    [drift] = await drift_of(world)
    assert drift["policy"] == "restore"
    assert drift["action"].startswith("restoring: event qbo-sync-restore-")
    assert drift["restore_event_id"]
    restored = await world.client.get(f"/events/{drift['restore_event_id']}", headers=world.auth)
    assert restored.json()["status"] == "synced"
    assert len(receiver.of_kind("drift.found")) == 1


async def test_accept_takes_their_version(hooked: tuple[World, Receiver]) -> None:
    world, _ = hooked
    world.settings = world.settings.model_copy(update={"drift_policy_customer": "accept"})
    await world.send(customer_event("c1"))
    await settle(world)
    customer = await qbo_id(world, "customers", "DisplayName", "Customer c1")
    edited = await world.books.edit(world.realm, "customers", customer, DisplayName="Theirs")
    await settle(world)
    [drift] = await drift_of(world)
    assert drift["action"].startswith("accepted")
    mappings = await world.client.get(
        "/mappings", params={"realm_id": world.realm, "entity_type": "customer"}, headers=world.auth
    )
    assert mappings.status_code == 200, mappings.text
    [mapping] = mappings.json()["items"]
    assert mapping["sync_token"] == edited["SyncToken"]
