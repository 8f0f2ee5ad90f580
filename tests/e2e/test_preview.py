"""Preview and validate: the request an event would send is the one QBO then gets, a synced
event shows what it sent, and a validation says what an event would do, storing nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from app.callbacks.models import CallbackDelivery
from app.core.keys import EntityKey
from app.events.models import Event
from app.mappings.models import EntityMapping
from app.sync.batch import sync_batch
from app.sync.engine import sync_entity
from tests.fixtures.keys import KeyFactory
from tests.fixtures.world import World, event_of
from tests.support.factories import customer_event, invoice_event, item_event


class Capture(httpx.AsyncBaseTransport):
    """Passes every request to `inner`; keeps the writes (POSTs) QBO received."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.writes: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            await request.aread()
            self.writes.append(request)
        return await self.inner.handle_async_request(request)


def _numbers_as_text(value: Any) -> Any:
    """A body with every number as its text: what QBO got (bare numbers) and what a
    preview shows (Decimals as text) compare alike."""
    if isinstance(value, dict):
        return {k: _numbers_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _as_received(request: httpx.Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.url.params),
        "body": json.loads(request.content, parse_float=str, parse_int=str),
    }


async def _preview(w: World, body: dict[str, Any]) -> dict[str, Any]:
    stored = await event_of(w.factory, str(body["event_id"]))
    answer = await w.client.get(f"/events/{stored.id}/preview", headers=w.auth)
    assert answer.status_code == 200, answer.text
    out: dict[str, Any] = answer.json()
    return out


async def _validate(w: World, body: dict[str, Any]) -> dict[str, Any]:
    answer = await w.client.post("/events/validate", json=body, headers=w.auth)
    assert answer.status_code == 200, answer.text
    out: dict[str, Any] = answer.json()
    return out


async def _parents(w: World) -> None:
    """The customer and the two items of the default invoice's lines, synced."""
    item2 = item_event("item-2", data={"name": "Support", "sku": "SUP-1"})
    counts = await w.send(customer_event("c1"), item_event("item-1"), item2)
    assert counts == {"synced": 3}


async def test_a_pending_invoice_previews_what_qbo_then_receives(world: World) -> None:
    w = await world.connect()
    await _parents(w)
    invoice = invoice_event("inv-1", customer="c1", data={"terms": "Net 30"})
    await w.post(invoice)

    preview = await _preview(w, invoice)

    assert (preview["source"], preview["outcome"], preview["status"]) == (
        "next",
        "create",
        "pending",
    )
    request = preview["request"]
    assert request["path"] == f"/v3/company/{w.realm}/invoice"
    capture = Capture(w.books.transport)
    await sync_entity(w.sync_deps(capture), EntityKey(w.realm, "invoice", "inv-1"))
    (received,) = capture.writes
    assert _as_received(received) == {**request, "body": _numbers_as_text(request["body"])}
    stored = await event_of(w.factory, str(invoice["event_id"]))
    assert stored.status == "synced"
    assert stored.sent_request == request

    # Synced: the preview is what was sent, the same request.
    again = await _preview(w, invoice)
    assert (again["source"], again["status"], again["outcome"]) == ("sent", "synced", None)
    assert again["request"] == request


async def test_an_update_previews_a_sparse_update_at_the_stored_sync_token(world: World) -> None:
    w = await world.connect()
    await _parents(w)
    renamed = customer_event("c1", data={"display_name": "Customer c1 renamed"})
    await w.post(renamed)

    preview = await _preview(w, renamed)

    assert preview["outcome"] == "update"
    body = preview["request"]["body"]
    assert body["sparse"] is True
    assert body["DisplayName"] == "Customer c1 renamed"
    assert await w.drain() == {"synced": 4}
    stored = await event_of(w.factory, str(renamed["event_id"]))
    assert stored.sent_request == preview["request"]


async def test_an_invoice_waiting_for_its_customer_previews_why(world: World) -> None:
    w = await world.connect()
    invoice = invoice_event("inv-1", customer="c9")
    await w.post(invoice)

    preview = await _preview(w, invoice)

    assert (preview["outcome"], preview["request"]) == ("wait", None)
    assert preview["waiting_for"] == "customer:c9"
    assert "no open event" in preview["reason"]


async def test_each_event_of_a_batch_keeps_its_own_operation(world: World) -> None:
    w = await world.connect()
    first, second = customer_event("c1"), customer_event("c2")
    await w.post(first, second)

    result = await sync_batch(
        w.sync_deps(), [EntityKey(w.realm, "customer", "c1"), EntityKey(w.realm, "customer", "c2")]
    )

    assert result.handled == 2
    for body in (first, second):
        sent = (await event_of(w.factory, str(body["event_id"]))).sent_request
        assert sent is not None
        assert sent["path"] == f"/v3/company/{w.realm}/batch"
        (operation,) = sent["body"]["BatchItemRequest"]
        assert operation["operation"] == "create"
        assert operation["Customer"]["Notes"] == f"qbo-sync:customer:{body['data']['external_id']}"


async def _stored(w: World) -> tuple[int, int, int]:
    async with w.factory() as session:
        events = await session.scalar(select(func.count()).select_from(Event))
        mappings = await session.scalar(select(func.count()).select_from(EntityMapping))
        notices = await session.scalar(select(func.count()).select_from(CallbackDelivery))
    return events or 0, mappings or 0, notices or 0


async def test_validate_answers_the_request_and_stores_nothing(world: World) -> None:
    w = await world.connect()
    await _parents(w)
    before = await _stored(w)
    invoice = invoice_event("inv-1", customer="c1", realm_id=w.realm)

    answer = await _validate(w, invoice)

    assert answer["outcome"] == "create"
    assert answer["request"]["path"] == f"/v3/company/{w.realm}/invoice"
    assert answer["duplicate"] is None
    assert await _stored(w) == before
    assert await w.records("invoices") == []


async def test_validate_refuses_what_the_company_lacks_naming_the_field(world: World) -> None:
    w = await world.connect()
    await _parents(w)
    terms = invoice_event("inv-1", customer="c1", realm_id=w.realm, data={"terms": "Net 99"})
    line = dict(invoice_event()["data"]["lines"][0], tax_code="VAT20")
    tax = invoice_event("inv-2", customer="c1", realm_id=w.realm, data={"lines": [line]})

    refused_terms = await _validate(w, terms)
    refused_tax = await _validate(w, tax)

    assert (refused_terms["outcome"], refused_terms["field"]) == ("refused", "/data/terms")
    assert "'Net 99' is not one of the company's active terms" in refused_terms["reason"]
    assert (refused_tax["outcome"], refused_tax["field"]) == ("refused", "/data/lines/0/tax_code")
    assert refused_tax["request"] is None


async def test_validate_refuses_a_tax_code_a_non_us_company_lacks(world: World) -> None:
    w = await world.connect("GB")
    counts = await w.send(customer_event("c1", data={"currency": None}), item_event("item-1"))
    assert counts == {"synced": 2}
    line = dict(invoice_event()["data"]["lines"][0], tax_code="999")
    invoice = invoice_event("inv-1", customer="c1", realm_id=w.realm, data={"lines": [line]})

    answer = await _validate(w, invoice)

    assert (answer["outcome"], answer["field"]) == ("refused", "/data/lines/0/tax_code")


async def test_validate_waits_for_a_missing_or_pending_customer(world: World) -> None:
    w = await world.connect()
    await w.post(item_event("item-1"))
    invoice = invoice_event("inv-1", customer="c7", realm_id=w.realm)

    missing = await _validate(w, invoice)
    customer = customer_event("c7")
    await w.post(customer)
    pending = await _validate(w, invoice)

    assert (missing["outcome"], missing["waiting_for"]) == ("wait", "customer:c7")
    assert missing["waiting_event_id"] is None
    stored = await event_of(w.factory, str(customer["event_id"]))
    assert (pending["outcome"], pending["waiting_event_id"]) == ("wait", str(stored.id))
    assert pending["waiting_event_status"] == "pending"


async def test_validate_says_when_the_event_id_was_used(world: World) -> None:
    w = await world.connect()
    customer = customer_event("c1")
    await w.post(customer)
    stored = await event_of(w.factory, str(customer["event_id"]))

    same = await _validate(w, customer)
    changed = await _validate(w, {**customer, "data": {**customer["data"], "phone": "1"}})

    assert same["duplicate"] == {"id": str(stored.id), "status": "pending", "same_body": True}
    assert changed["duplicate"]["same_body"] is False


async def test_validate_of_a_company_not_connected(world: World) -> None:
    answer = await _validate(world, customer_event("c1", realm_id="4620816365"))
    assert (answer["outcome"], answer["request"]) == ("not_connected", None)


async def test_validate_refuses_a_bad_body_as_intake_does(world: World) -> None:
    bad = customer_event("c1", data={"display_name": ""})
    validated = await world.client.post("/events/validate", json=bad, headers=world.auth)
    posted = await world.client.post("/events", json=bad, headers=world.auth)
    assert validated.status_code == posted.status_code == 422
    assert validated.json()["errors"] == posted.json()["errors"]
    assert validated.headers["content-type"] == "application/problem+json"


async def test_scopes_and_unknown_events(world: World, make_key: KeyFactory) -> None:
    w = await world.connect()
    customer = customer_event("c1")
    await w.post(customer)
    stored = await event_of(w.factory, str(customer["event_id"]))
    writer = {"Authorization": f"Bearer {await make_key('writer', ['events:write'])}"}
    reader = {"Authorization": f"Bearer {await make_key('reader', ['events:read'])}"}

    no_read = await w.client.get(f"/events/{stored.id}/preview", headers=writer)
    no_write = await w.client.post("/events/validate", json=customer, headers=reader)
    other_source = await w.client.get(f"/events/{stored.id}/preview", headers=reader)
    unknown = await w.client.get(
        "/events/00000000-0000-4000-8000-000000000000/preview", headers=w.auth
    )

    assert (no_read.status_code, no_write.status_code) == (403, 403)
    assert other_source.status_code == 404  # the `billing` key's event, not `reader`'s
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_a_failed_write_keeps_what_was_sent_and_the_retry_sends_it_again(
    world: World,
) -> None:
    w = await world.connect()
    customer = customer_event("c1")
    await w.post(customer)
    preview = await _preview(w, customer)
    await w.books.faults(w.realm, error_503_rate=1.0)

    await sync_entity(w.sync_deps(), EntityKey(w.realm, "customer", "c1"))

    failed = await event_of(w.factory, str(customer["event_id"]))
    assert failed.status == "retrying"
    assert failed.sent_request == preview["request"]
    retrying = await _preview(w, customer)
    assert (retrying["source"], retrying["request"]) == ("next", preview["request"])
    await w.books.faults(w.realm)
    assert await w.drain() == {"synced": 1}
    assert (await event_of(w.factory, str(customer["event_id"]))).sent_request == preview["request"]
