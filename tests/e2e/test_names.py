"""Names in QBO: one QBO record per caller record and one caller record per QBO record.

Two records of one company never end up on one QBO record, not when they share a name
(QBO compares names without case) and an e-mail, not when both are created in one batch,
not when two workers create them at the same moment; a disambiguated name that is taken
too gets a counter; the company's own items are not taken over by a namesake.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.core.keys import EntityKey
from app.db import utcnow
from app.events.models import Event
from app.mappings.models import EntityMapping
from app.sync.batch import sync_batch
from app.sync.engine import sync_entity
from app.sync.outcomes import Done
from app.sync.recording import record
from app.sync.selection import prepare
from app.sync.work import Applied
from tests.fixtures.world import World, event_of, post
from tests.support.factories import customer_event, item_event


class HoldFirstCreate(httpx.AsyncBaseTransport):
    """QBO as a slow network shows it to two workers at once: the answer of the first
    successful create of `entity` is held back until two more writes of that entity have
    reached QBO, i.e. until the sibling that got 6240 has decided what to do about it
    (adopt or rename) and done it. The sibling's mapping is then not committed yet when
    the other looks, and the other's mapping not when the sibling looks. A safety timeout
    keeps a test that goes wrong from hanging; nothing asserts on it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, entity: str) -> None:
        self.inner, self.entity = inner, entity
        self.held = False
        self.writes_after = 0
        self.release = asyncio.Event()

    def _is_write(self, request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path.endswith(f"/{self.entity}")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        write = self._is_write(request)
        if write and self.held:
            self.writes_after += 1
            if self.writes_after >= 2:
                self.release.set()
        response = await self.inner.handle_async_request(request)
        if write and not self.held and response.status_code == 200:
            self.held = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), timeout=10)
        return response


async def _mapped(factory: async_sessionmaker[AsyncSession], kind: str) -> dict[str, str]:
    async with factory() as session:
        rows = await session.execute(
            select(EntityMapping.external_id, EntityMapping.qbo_id).where(
                EntityMapping.entity_type == kind
            )
        )
    return {r.external_id: r.qbo_id for r in rows}


def _same_person(ext: str) -> dict[str, Any]:
    return customer_event(ext, data={"display_name": "Acme Ltd", "email": "ap@acme.example"})


def _bolt(ext: str, name: str) -> dict[str, Any]:
    return item_event(ext, data={"name": name, "sku": None, "description": None})


def _keys(w: World, kind: str, *exts: str) -> list[EntityKey]:
    return [EntityKey(w.realm, kind, ext) for ext in exts]


def _names(rows: list[dict[str, Any]], field: str) -> list[str]:
    return sorted(str(r[field]) for r in rows)


async def _post(w: World, *events: dict[str, Any]) -> None:
    for event in events:
        event["realm_id"] = w.realm
    await post(w.client, w.auth, *events)


async def test_two_customers_of_one_name_and_email_in_one_batch_get_two_records(
    world: World,
) -> None:
    w = await world.connect()
    await _post(w, _same_person("cust-41"), _same_person("cust-42"))

    result = await sync_batch(w.sync_deps(), _keys(w, "customer", "cust-41", "cust-42"))

    assert result.handled == 2
    mapped = await _mapped(w.factory, "customer")
    assert set(mapped) == {"cust-41", "cust-42"}
    assert mapped["cust-41"] != mapped["cust-42"]
    rows = await w.records("customers")
    assert len(rows) == 2
    names = _names(rows, "DisplayName")
    assert names[0] == "Acme Ltd"
    assert names[1] in ("Acme Ltd (cust-41)", "Acme Ltd (cust-42)")
    for row in rows:  # each QBO record carries the marker of the record it belongs to
        ext = next(e for e, qbo_id in mapped.items() if qbo_id == row["Id"])
        assert f"qbo-sync:customer:{ext}" in row["Notes"].split()


@pytest.mark.parametrize("adopt_by_name", [False, True], ids=["default", "adopt-by-name"])
async def test_items_whose_names_differ_by_case_in_one_batch_get_two_records(
    world: World, adopt_by_name: bool
) -> None:
    w = await world.connect()
    w.settings = w.settings.model_copy(update={"item_adopt_existing_by_name": adopt_by_name})
    await _post(w, _bolt("item-a", "bolt"), _bolt("item-b", "BOLT"))

    await sync_batch(w.sync_deps(), _keys(w, "item", "item-a", "item-b"))

    mapped = await _mapped(w.factory, "item")
    assert set(mapped) == {"item-a", "item-b"}
    assert mapped["item-a"] != mapped["item-b"]
    ours = [i for i in await w.records("items") if i["Id"] in mapped.values()]
    assert len(ours) == 2
    assert _names(ours, "Name") == ["BOLT (item-b)", "bolt"] or _names(ours, "Name") == [
        "BOLT",
        "bolt (item-a)",
    ]


async def test_two_workers_creating_namesake_customers_at_once_get_two_records(
    world: World,
) -> None:
    w = await world.connect()
    bodies = [_same_person("cust-41"), _same_person("cust-42")]
    await _post(w, *bodies)
    gate = HoldFirstCreate(w.books.transport, "customer")
    deps = w.sync_deps(gate)

    await asyncio.gather(
        *(sync_entity(deps, key) for key in _keys(w, "customer", "cust-41", "cust-42"))
    )

    assert gate.release.is_set()  # the second decided while the first was not recorded

    mapped = await _mapped(w.factory, "customer")
    assert set(mapped) == {"cust-41", "cust-42"}
    assert mapped["cust-41"] != mapped["cust-42"]
    assert len(await w.records("customers")) == 2
    notes = [(await event_of(w.factory, str(b["event_id"]))).note or "" for b in bodies]
    assert not any("adopted" in note for note in notes)


async def test_two_workers_creating_items_differing_by_case_at_once_get_two_records(
    world: World,
) -> None:
    w = await world.connect()
    w.settings = w.settings.model_copy(update={"item_adopt_existing_by_name": True})
    await _post(w, _bolt("item-a", "bolt"), _bolt("item-b", "BOLT"))
    gate = HoldFirstCreate(w.books.transport, "item")
    deps = w.sync_deps(gate)

    await asyncio.gather(*(sync_entity(deps, key) for key in _keys(w, "item", "item-a", "item-b")))

    assert gate.release.is_set()

    mapped = await _mapped(w.factory, "item")
    assert set(mapped) == {"item-a", "item-b"}
    assert mapped["item-a"] != mapped["item-b"]
    ours = [i for i in await w.records("items") if i["Name"].casefold().startswith("bolt")]
    assert len(ours) == 2


async def test_a_qbo_record_already_linked_to_another_record_is_not_linked_twice(
    world: World,
) -> None:
    """The database refuses a second link even when the checks before the write missed it
    (a sibling committed in between): the event is retried and gets its own record."""
    w = await world.connect()
    theirs = await w.books.create(w.realm, "Customer", {"DisplayName": "Someone Else"})
    body = customer_event("cust-1")
    await _post(w, body)
    deps = w.sync_deps()
    engine = w.factory.kw["bind"]
    key = EntityKey(w.realm, "customer", "cust-1")
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        step = await prepare(deps, session, key)
    assert step.work is not None
    assert step.event is not None
    async with w.factory() as session:
        session.add(
            EntityMapping(
                id=uuid.uuid4(),
                realm_id=w.realm,
                entity_type="customer",
                external_id="cust-other",
                qbo_id=theirs["Id"],
                sync_token="0",
            )
        )
        await session.commit()

    outcome = Done(Applied(theirs["Id"], "0", "adopted the QBO customer of the same name"))
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        await record(deps, session, step.event, step.work, outcome)

    event = await event_of(w.factory, str(body["event_id"]))
    assert event.status == "retrying"
    assert event.last_error is not None
    assert "already linked" in event.last_error["message"]
    assert await _mapped(w.factory, "customer") == {"cust-other": theirs["Id"]}
    async with w.factory() as session:  # due now: the next try creates its own record
        await session.execute(
            update(Event).where(Event.id == event.id).values(next_attempt_at=utcnow())
        )
        await session.commit()
    await sync_entity(deps, key)
    mapped = await _mapped(w.factory, "customer")
    assert mapped["cust-1"] != theirs["Id"]


async def test_a_taken_disambiguated_name_gets_a_counter(world: World) -> None:
    w = await world.connect()
    for name in ("Acme Ltd", "Acme Ltd (cust-42)", "Acme Ltd (cust-42) 2"):
        await w.books.create(w.realm, "Customer", {"DisplayName": name})
    body = customer_event("cust-42", data={"display_name": "Acme Ltd"})

    assert await w.send(body) == {"synced": 1}

    event = await w.event(body)
    record = await w.books.record(w.realm, "customers", event["qbo_id"])
    assert record["DisplayName"] == "Acme Ltd (cust-42) 3"
    assert "Acme Ltd (cust-42) 3" in event["note"]


async def test_the_companys_own_item_is_not_taken_over_by_a_namesake(world: World) -> None:
    w = await world.connect()
    (seeded,) = await w.records("items")
    assert seeded["Name"] == "Services"
    body = item_event("item-1", data={"name": "services", "unit_price": "99.00"})

    assert await w.send(body) == {"synced": 1}

    event = await w.event(body)
    assert event["qbo_id"] != seeded["Id"]
    assert await w.books.record(w.realm, "items", seeded["Id"]) == seeded  # untouched
    ours = await w.books.record(w.realm, "items", event["qbo_id"])
    assert ours["Name"] == "services (item-1)"


async def test_a_lost_item_create_does_not_adopt_the_companys_own_item(world: World) -> None:
    w = await world.connect()
    (seeded,) = await w.records("items")
    # The company has had its item for a week (a test company is seconds old).
    company = w.books.store.company(w.realm)
    assert company is not None
    seeded["MetaData"]["CreateTime"] = "2026-11-24T09:00:00-08:00"
    company.table("Item")[seeded["Id"]]["MetaData"]["CreateTime"] = "2026-11-24T09:00:00-08:00"
    body = item_event("item-1", data={"name": "Services"})
    await _post(w, body)
    async with w.factory() as session:  # as if an earlier create got no answer
        await session.execute(
            update(Event)
            .where(Event.event_id == body["event_id"])
            .values(
                status="retrying",
                attempts=1,
                last_error={"category": "transient", "message": "lost", "ambiguous": True},
            )
        )
        await session.commit()

    await sync_entity(w.sync_deps(), EntityKey(w.realm, "item", "item-1"))

    event = await event_of(w.factory, str(body["event_id"]))
    assert event.status == "synced"
    assert event.qbo_id != seeded["Id"]
    assert await w.books.record(w.realm, "items", seeded["Id"]) == seeded


async def test_a_lost_item_create_is_found_by_its_name_when_qbo_made_it_after_the_event(
    world: World,
) -> None:
    """The answer of a batch create is lost with the batch (its retry goes alone, under
    another requestid): the item QBO made of it is ours, not a namesake to avoid."""
    w = await world.connect()
    body = item_event("item-1", data={"name": "Widget"})
    await _post(w, body)
    stored = await event_of(w.factory, str(body["event_id"]))
    async with w.factory() as session:
        await session.execute(
            update(Event)
            .where(Event.id == stored.id)
            .values(
                status="retrying",
                attempts=1,
                last_error={"category": "transient", "message": "lost", "ambiguous": True},
            )
        )
        await session.commit()
    made = await w.books.create(  # what the lost create made
        w.realm,
        "Item",
        {"Name": "Widget", "Type": "Service", "IncomeAccountRef": {"value": "1"}},
    )

    await sync_entity(w.sync_deps(), EntityKey(w.realm, "item", "item-1"))

    event = await event_of(w.factory, str(body["event_id"]))
    assert (event.status, event.qbo_id) == ("synced", made["Id"])
    assert len(await w.records("items")) == 2  # the seeded one and ours, nothing renamed


async def test_the_companys_own_item_is_adopted_when_the_settings_allow_it(
    world: World, sync_settings: Settings
) -> None:
    w = await world.connect()
    w.settings = sync_settings.model_copy(update={"item_adopt_existing_by_name": True})
    (seeded,) = await w.records("items")
    body = item_event("item-1", data={"name": "SERVICES", "unit_price": "99.00"})

    assert await w.send(body) == {"synced": 1}

    event = await w.event(body)
    assert event["qbo_id"] == seeded["Id"]
    assert "adopted" in event["note"]
    assert len(await w.records("items")) == 1


async def test_a_rename_onto_taken_names_gets_a_counter(world: World) -> None:
    w = await world.connect()
    first = customer_event("cust-7", occurred_at="2026-11-25T10:00:00Z")
    assert await w.send(first) == {"synced": 1}
    for name in ("Beta", "Beta (cust-7)"):
        await w.books.create(w.realm, "Customer", {"DisplayName": name})
    renamed = customer_event(
        "cust-7", occurred_at="2026-11-25T10:05:00Z", data={"display_name": "Beta"}
    )

    assert (await w.send(renamed))["synced"] == 2

    event = await w.event(renamed)
    record = await w.books.record(w.realm, "customers", event["qbo_id"])
    assert record["DisplayName"] == "Beta (cust-7) 2"


async def test_a_lost_create_of_a_long_name_is_found_among_its_names(world: World) -> None:
    """Eleven names of up to 500 characters are looked up in several queries."""
    w = await world.connect()
    long_name = "Long " + "n" * 480
    body = customer_event("cust-9", data={"display_name": long_name})
    await _post(w, body)
    async with w.factory() as session:  # as if an earlier create got no answer
        await session.execute(
            update(Event)
            .where(Event.event_id == body["event_id"])
            .values(
                status="retrying",
                attempts=1,
                last_error={"category": "transient", "message": "lost", "ambiguous": True},
            )
        )
        await session.commit()
    renamed = f"{long_name[: 500 - len(' (cust-9) 3')]} (cust-9) 3"
    made = await w.books.create(  # what the lost create made, a third try of the name
        w.realm, "Customer", {"DisplayName": renamed, "Notes": "qbo-sync:customer:cust-9"}
    )
    before = (await w.books.counters(w.realm))["by_endpoint"]

    await sync_entity(w.sync_deps(), EntityKey(w.realm, "customer", "cust-9"))

    event = await event_of(w.factory, str(body["event_id"]))
    assert (event.status, event.qbo_id) == ("synced", made["Id"])
    after = (await w.books.counters(w.realm))["by_endpoint"]
    queries = sum(n for k, n in after.items() if "query" in k) - sum(
        n for k, n in before.items() if "query" in k
    )
    assert 2 <= queries <= 4
