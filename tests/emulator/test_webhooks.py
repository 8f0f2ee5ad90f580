"""Webhooks: what each change notifies, both body formats, the signature, retries, loss,
reordering, aggregation, the admin routes; and CDC's cap and deletion stamps."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.emulator.app import create_app, store_of
from app.emulator.cli import config_from_args, register
from app.emulator.config import EmulatorConfig, LimitsConfig, WebhookConfig
from app.emulator.webhooks import OPERATION_VERBS, sign, utc_stamp, verify
from tests.fixtures.qbo import Qbo

VECTORS = Path(__file__).resolve().parent / "fixtures" / "webhooks"
TOKEN = "verifier-token-for-tests"
HOOK_URL = "http://receiver.test/hook"
Change = tuple[str, str, str, str, str]


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A webhook listener: records every POST and answers the queued statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    answer_after: float = 0.0
    requests: list[Received] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.requests.append(
            Received(await request.body(), dict(request.headers), time.monotonic())
        )
        if self.answer_after:
            await asyncio.sleep(self.answer_after)
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


def hook_config(**changes: Any) -> WebhookConfig:
    """Webhooks on, sent only by explicit flushes unless a test shortens the aggregation."""
    settings: dict[str, Any] = {
        "url": HOOK_URL,
        "verifier_token": TOKEN,
        "aggregate_seconds": 60.0,
        "retry_scale": 0.001,
        **changes,
    }
    return WebhookConfig(**settings)


@contextlib.asynccontextmanager
async def hooked(
    webhooks: WebhookConfig | None, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[tuple[Qbo, FastAPI]]:
    """An emulator whose webhooks go through `transport`, with one company and a token."""
    config = EmulatorConfig(frozen_clock=True, seed=7, limits=LimitsConfig(enabled=False))
    if webhooks is not None:
        config.webhooks = webhooks
    app = create_app(config, webhook_transport=transport)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://qbo.test")
    try:
        realm_id = (await client.post("/admin/companies", json={"name": "Acme"})).json()["realm_id"]
        tokens = (await client.post(f"/admin/companies/{realm_id}/tokens")).json()
        yield Qbo(client, store_of(app), realm_id, tokens), app
    finally:
        await store_of(app).webhooks.aclose()
        await client.aclose()


def listening(receiver: Receiver, **changes: Any) -> contextlib.AbstractAsyncContextManager[Any]:
    return hooked(hook_config(**changes), httpx.ASGITransport(app=receiver.app()))


def changes_in(body: bytes) -> list[Change]:
    """(realm, entity, id, operation, lastUpdated) of a legacy or a CloudEvents body."""
    parsed = json.loads(body)
    if isinstance(parsed, list):
        operations = {verb: op for op, verb in OPERATION_VERBS.items()}
        found: list[Change] = []
        for event in parsed:
            prefix, entity, verb, version = event["type"].split(".")
            assert (prefix, version) == ("qbo", "v1")
            found.append(
                (
                    event["intuitaccountid"],
                    entity,
                    event["intuitentityid"],
                    operations[verb],
                    event["time"],
                )
            )
        return found
    return [
        (note["realmId"], e["name"].lower(), e["id"], e["operation"], e["lastUpdated"])
        for note in parsed["eventNotifications"]
        for e in note["dataChangeEvent"]["entities"]
    ]


def utc(record: dict[str, Any]) -> str:
    """A record's LastUpdatedTime as webhooks write it."""
    return utc_stamp(datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"]))


def check_shape(body: bytes, fmt: str, realm_id: str) -> None:
    parsed = json.loads(body)
    if fmt == "legacy":
        assert [n["realmId"] for n in parsed["eventNotifications"]] == [realm_id]
        return
    assert isinstance(parsed, list)
    assert len({e["id"] for e in parsed}) == len(parsed)
    for event in parsed:
        assert uuid.UUID(event["id"]).version == 4
        assert event["specversion"] == "1.0"
        assert event["datacontenttype"] == "application/json"
        assert event["source"].startswith("intuit.")
        assert event["source"] == parsed[0]["source"]
        assert event["data"] == {}
        assert event["time"].endswith("Z")


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_accounting_api_writes_notify(fmt: str) -> None:
    receiver = Receiver()
    async with listening(receiver, format=fmt) as (qbo, _):
        clock = qbo.store.clock
        customer = await qbo.customer("Webhook Jane")
        clock.advance(1)
        updated = await qbo.ok(
            "customer",
            {
                "Id": customer["Id"],
                "SyncToken": customer["SyncToken"],
                "sparse": True,
                "Notes": "n",
            },
        )
        clock.advance(1)
        invoice = await qbo.invoice(customer["Id"], "100")
        clock.advance(1)
        voided = await qbo.ok(
            "invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="void"
        )
        clock.advance(1)
        payment = await qbo.ok("payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 5})
        clock.advance(1)
        payment_void = await qbo.ok(
            "payment",
            {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True},
            operation="update",
            include="void",
        )
        clock.advance(1)
        batch = await qbo.post(
            "batch",
            {"BatchItemRequest": [{"bId": "1", "Customer": {"DisplayName": "Batched"}}]},
        )
        batched = batch.json()["BatchItemResponse"][0]["Customer"]
        assert qbo.store.webhooks.pending
        attempt = await qbo.store.webhooks.flush()

    assert attempt is not None
    assert attempt.outcome == "delivered"
    assert len(receiver.requests) == 1
    body = receiver.requests[0].body
    realm, cid, iid, pid = qbo.realm_id, customer["Id"], invoice["Id"], payment["Id"]
    assert changes_in(body) == [
        (realm, "customer", cid, "Create", utc(customer)),
        (realm, "customer", cid, "Update", utc(updated)),
        (realm, "invoice", iid, "Create", utc(invoice)),
        (realm, "customer", cid, "Update", utc(invoice)),  # its open balance moved
        (realm, "invoice", iid, "Void", utc(voided)),
        (realm, "customer", cid, "Update", utc(voided)),
        (realm, "payment", pid, "Create", utc(payment)),
        (realm, "payment", pid, "Void", utc(payment_void)),
        (realm, "customer", batched["Id"], "Create", utc(batched)),
    ]
    check_shape(body, fmt, realm)
    assert attempt.delivery.notifications == 9


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_admin_edits_notify(fmt: str) -> None:
    receiver = Receiver()
    async with listening(receiver, format=fmt) as (qbo, _):
        edited = await qbo.customer("Edited By Hand")
        other = await qbo.customer("Billed")
        invoice = await qbo.invoice(other["Id"], "40")
        await qbo.store.webhooks.flush()
        admin = f"/admin/companies/{qbo.realm_id}"
        qbo.store.clock.advance(5)
        patched = await qbo.client.patch(f"{admin}/customers/{edited['Id']}", json={"Notes": "x"})
        qbo.store.clock.advance(5)
        inactive = await qbo.client.post(f"{admin}/customers/{edited['Id']}/deactivate")
        qbo.store.clock.advance(5)
        deleted = await qbo.client.delete(f"{admin}/invoices/{invoice['Id']}")
        deleted_at = utc_stamp(qbo.store.now())
        assert deleted.status_code == 200
        await qbo.store.webhooks.flush()

    assert len(receiver.requests) == 2
    body = receiver.requests[1].body
    assert changes_in(body) == [
        (qbo.realm_id, "customer", edited["Id"], "Update", utc(patched.json())),
        (qbo.realm_id, "customer", edited["Id"], "Update", utc(inactive.json())),
        (qbo.realm_id, "invoice", invoice["Id"], "Delete", deleted_at),
    ]
    check_shape(body, fmt, qbo.realm_id)


async def test_signature_verifies_with_the_token_only() -> None:
    receiver = Receiver()
    async with listening(receiver) as (qbo, _):
        await qbo.customer("Signed")
        await qbo.store.webhooks.flush()
    [request] = receiver.requests
    assert request.headers["content-type"] == "application/json"
    signature = request.headers["intuit-signature"]
    assert signature == sign(request.body, TOKEN)
    assert verify(request.body, signature, TOKEN)
    assert not verify(request.body, signature, "another-token")
    assert not verify(request.body + b" ", signature, TOKEN)


def test_signature_matches_intuit_sdk_vectors() -> None:
    vectors = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))["vectors"]
    assert len(vectors) == 3
    for vector in vectors:
        body = (VECTORS / vector["payload_file"]).read_bytes()
        if "payload_bytes" in vector:
            assert len(body) == vector["payload_bytes"]
        valid = verify(body, vector["intuit_signature"], vector["verifier_token"])
        assert valid is vector["expect_valid"], vector["id"]
        if vector["expect_valid"]:
            assert sign(body, vector["verifier_token"]) == vector["intuit_signature"]


def test_emulator_bodies_parse_like_intuit_samples() -> None:
    legacy = json.loads((VECTORS / "dotnet-sdk-webhook.payload.json").read_bytes())
    cloud = json.loads((VECTORS / "dotnet-sdk-cloudevents.payload.json").read_bytes())
    assert changes_in(json.dumps(legacy).encode())[1] == (
        "1269959970",
        "customer",
        "43",
        "Create",
        "2016-10-05T03:07:04.000Z",
    )
    assert changes_in(json.dumps(cloud).encode())[0][:4] == ("310687", "class", "1234", "Create")


async def test_failed_delivery_is_retried_unchanged_on_the_scaled_schedule() -> None:
    receiver = Receiver(statuses=[500, 503])
    config = {"format": "cloudevents", "retry_schedule_seconds": [10, 20, 30]}
    async with listening(receiver, **config) as (qbo, _):
        await qbo.customer("Retried")
        first = await qbo.store.webhooks.flush()
        assert first is not None
        assert (first.outcome, first.status_code, first.retry_in_seconds) == ("failed", 500, 0.01)
        async with asyncio.timeout(5):
            attempts = await qbo.store.webhooks.wait_for_attempts(3)
            await qbo.store.webhooks.wait_idle()
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "delivered", 200),
    ]
    assert [a.retry_in_seconds for a in attempts] == [0.01, 0.02, None]
    assert len({a.delivery.id for a in attempts}) == 1
    bodies = {r.body for r in receiver.requests}
    signatures = {r.headers["intuit-signature"] for r in receiver.requests}
    assert (len(receiver.requests), len(bodies), len(signatures)) == (3, 1, 1)
    times = [r.at for r in receiver.requests]
    assert times[1] - times[0] >= 0.009
    assert times[2] - times[1] >= 0.019


async def test_unreachable_or_slow_listener_counts_as_failure() -> None:
    calls: list[httpx.Request] = []

    def refuse_then_accept(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(204)

    async with hooked(hook_config(), httpx.MockTransport(refuse_then_accept)) as (qbo, _):
        await qbo.customer("Unreachable")
        first = await qbo.store.webhooks.flush()
        async with asyncio.timeout(5):
            attempts = await qbo.store.webhooks.wait_for_attempts(2)
    assert first is not None
    assert first.error == "ConnectError: connection refused"
    assert attempts[1].outcome == "delivered"
    assert calls[0].content == calls[1].content

    slow = Receiver(answer_after=0.5)
    async with listening(slow, timeout_seconds=0.05, retry_scale=100) as (qbo, _):
        await qbo.customer("Slow")
        timed_out = await qbo.store.webhooks.flush()
    assert timed_out is not None
    assert (timed_out.outcome, timed_out.error) == ("failed", "no answer within 0.05 s")
    assert timed_out.retry_in_seconds == 1000


async def test_loss_rate_one_sends_nothing_and_records_the_drop() -> None:
    receiver = Receiver()
    async with listening(receiver, loss_rate=1.0) as (qbo, _):
        await qbo.customer("Lost")
        lost = await qbo.store.webhooks.flush()
        async with asyncio.timeout(1):
            await qbo.store.webhooks.wait_idle()
        listed = (await qbo.client.get("/admin/webhooks/deliveries")).json()
    assert receiver.requests == []
    assert lost is not None
    assert lost.outcome == "dropped"
    assert [(a["outcome"], a["status_code"]) for a in listed["attempts"]] == [("dropped", None)]


async def test_reorder_shuffles_within_a_flush() -> None:
    receiver = Receiver()
    async with listening(receiver, reorder=True) as (qbo, _):
        created = [(await qbo.customer(f"Shuffled {n}"))["Id"] for n in range(20)]
        await qbo.store.webhooks.flush()
    sent = [change[2] for change in changes_in(receiver.requests[0].body)]
    assert sorted(sent) == sorted(created)
    assert sent != created


async def test_changes_are_aggregated_per_realm_into_one_post() -> None:
    receiver = Receiver()
    async with listening(receiver, aggregate_seconds=0.05, delay_seconds=0.01) as (qbo, _):
        other = (await qbo.client.post("/admin/companies", json={"name": "Other"})).json()
        other_realm = other["realm_id"]
        other_tokens = (await qbo.client.post(f"/admin/companies/{other_realm}/tokens")).json()
        second = Qbo(qbo.client, qbo.store, other_realm, other_tokens)
        await qbo.customer("First Realm")
        await second.customer("Second Realm")
        await qbo.customer("First Realm Again")
        async with asyncio.timeout(5):
            await qbo.store.webhooks.wait_idle()
    [request] = receiver.requests
    notes = json.loads(request.body)["eventNotifications"]
    assert [(n["realmId"], len(n["dataChangeEvent"]["entities"])) for n in notes] == [
        (qbo.realm_id, 2),
        (other_realm, 1),
    ]


async def test_a_company_with_webhooks_off_notifies_nobody_but_cdc_sees_its_changes() -> None:
    receiver = Receiver()
    async with listening(receiver) as (qbo, _):
        path = f"/admin/companies/{qbo.realm_id}"
        off = await qbo.client.patch(path, json={"webhooks": False})
        assert off.json()["webhooks"] is False
        silent = await qbo.customer("Unannounced")
        assert await qbo.store.webhooks.flush() is None
        since = (qbo.store.now() - timedelta(minutes=5)).isoformat(timespec="seconds")
        cdc = (await qbo.get("cdc", entities="Customer", changedSince=since)).json()
        seen = cdc["CDCResponse"][0]["QueryResponse"][0]["Customer"]
        assert silent["Id"] in {c["Id"] for c in seen}
        assert (await qbo.client.patch(path, json={"webhooks": True})).json()["webhooks"]
        announced = await qbo.customer("Announced")
        await qbo.store.webhooks.flush()
    [request] = receiver.requests
    assert [change[2] for change in changes_in(request.body)] == [announced["Id"]]


async def test_admin_routes_configure_list_and_flush() -> None:
    receiver = Receiver(statuses=[500])
    async with hooked(None, httpx.ASGITransport(app=receiver.app())) as (qbo, _):
        await qbo.customer("Before Webhooks")
        assert qbo.store.webhooks.pending == []
        assert (await qbo.client.get("/admin/webhooks")).json()["url"] is None

        settings = hook_config(format="cloudevents", retry_scale=1000).model_dump()
        put = await qbo.client.put("/admin/webhooks", json=settings)
        assert put.status_code == 200
        shown = (await qbo.client.get("/admin/config")).json()["webhooks"]
        assert (shown["url"], shown["format"], shown["retry_scale"]) == (
            HOOK_URL,
            "cloudevents",
            1000,
        )
        assert (await qbo.client.get("/admin/webhooks")).json() == shown

        await qbo.customer("After Webhooks")
        assert len((await qbo.client.get("/admin/webhooks/deliveries")).json()["attempts"]) == 0
        flushed = (await qbo.client.post("/admin/webhooks/flush")).json()["attempt"]
        assert (flushed["outcome"], flushed["status_code"]) == ("failed", 500)
        assert flushed["retry_in_seconds"] == 10_000
        listed = (await qbo.client.get("/admin/webhooks/deliveries")).json()
        assert listed["pending"] == 0
        [attempt] = listed["attempts"]
        assert attempt["url"] == HOOK_URL
        assert attempt["format"] == "cloudevents"
        assert attempt["notifications"] == 1
        assert attempt["time"].endswith("Z")
        assert attempt["body"].encode() == receiver.requests[0].body
        assert (await qbo.client.post("/admin/webhooks/flush")).json() == {"attempt": None}

        patched = await qbo.client.patch("/admin/config", json={"webhooks": {"url": None}})
        assert patched.json()["webhooks"]["url"] is None
        await qbo.customer("Webhooks Off Again")
        assert qbo.store.webhooks.pending == []
        cleared = await qbo.client.delete("/admin/webhooks/deliveries")
        assert cleared.json()["attempts"] == []

        bad_rate = await qbo.client.put("/admin/webhooks", json={"loss_rate": 2})
        bad_url = await qbo.client.put("/admin/webhooks", json={"url": "ftp://x"})
        assert (bad_rate.status_code, bad_url.status_code) == (422, 422)


async def test_lifespan_shutdown_cancels_retries() -> None:
    receiver = Receiver(statuses=[500])
    async with listening(receiver, retry_scale=1000) as (qbo, app):
        async with app.router.lifespan_context(app):
            await qbo.customer("Shut Down")
            failed = await qbo.store.webhooks.flush()
            assert failed is not None
            assert failed.outcome == "failed"
        async with asyncio.timeout(0.5):
            await qbo.store.webhooks.wait_idle()
    assert len(receiver.requests) == 1


def test_cli_webhook_options() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "emulator",
            "--webhook-url",
            "http://127.0.0.1:9000/hooks",
            "--webhook-verifier-token",
            "tok",
            "--webhook-format",
            "cloudevents",
            "--webhook-loss-rate",
            "0.25",
        ]
    )
    webhooks = config_from_args(args).webhooks
    assert (webhooks.url, webhooks.verifier_token, webhooks.format) == (
        "http://127.0.0.1:9000/hooks",
        "tok",
        "cloudevents",
    )
    assert webhooks.loss_rate == 0.25
    assert webhooks.retry_schedule_seconds[:3] == [10, 20, 30]
    assert webhooks.retry_delay(9) == webhooks.retry_delay(8) == 21_600
    assert config_from_args(parser.parse_args(["emulator"])).webhooks.url is None


async def test_cdc_caps_at_1000_objects_across_entities(qbo: Qbo) -> None:
    since = (qbo.store.now() - timedelta(minutes=1)).isoformat()
    for start in range(0, 600, 30):
        items = [
            {"bId": str(n), "Customer": {"DisplayName": f"Cdc Customer {n}"}}
            for n in range(start, start + 30)
        ]
        await qbo.post("batch", {"BatchItemRequest": items})
    for start in range(0, 900, 30):
        items = [
            {
                "bId": str(n),
                "Item": {
                    "Name": f"Cdc Item {n}",
                    "Type": "Service",
                    "IncomeAccountRef": {"value": "1"},
                },
            }
            for n in range(start, start + 30)
        ]
        await qbo.post("batch", {"BatchItemRequest": items})
    answer = (await qbo.get("cdc", entities="Customer,Item", changedSince=since)).json()
    blocks = answer["CDCResponse"][0]["QueryResponse"]
    assert [len(b.get("Customer", b.get("Item", []))) for b in blocks] == [600, 400]
    assert sum(b.get("maxResults", 0) for b in blocks) == 1000


async def test_cdc_deletions_carry_their_time_and_come_last(qbo: Qbo) -> None:
    start = qbo.store.now()
    customer = await qbo.customer("Cdc Deletions")
    first = await qbo.invoice(customer["Id"], "10")
    second = await qbo.invoice(customer["Id"], "20")
    qbo.store.clock.advance(60)
    await qbo.post("invoice", {"Id": second["Id"], "SyncToken": "0"}, operation="delete")
    qbo.store.clock.advance(60)
    deleted_at = qbo.store.meta_now()
    await qbo.post("invoice", {"Id": first["Id"], "SyncToken": "0"}, operation="delete")
    qbo.store.clock.advance(60)
    kept = await qbo.invoice(customer["Id"], "30")
    answer = await qbo.get("cdc", entities="Invoice", changedSince=start.isoformat())
    objects = answer.json()["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
    assert [(o["Id"], o.get("status")) for o in objects] == [
        (kept["Id"], None),
        (second["Id"], "Deleted"),
        (first["Id"], "Deleted"),
    ]
    assert objects[2]["MetaData"]["LastUpdatedTime"] == deleted_at
    assert objects[1]["MetaData"]["LastUpdatedTime"] < deleted_at


async def test_payment_notifies_the_invoices_and_customer_it_changes() -> None:
    receiver = Receiver()
    async with listening(receiver) as (qbo, _):
        customer = await qbo.customer("Paying")
        invoice = await qbo.invoice(customer["Id"], "80")
        await qbo.store.webhooks.flush()
        qbo.store.clock.advance(30)
        payment = await qbo.ok(
            "payment",
            {
                "CustomerRef": {"value": customer["Id"]},
                "TotalAmt": 30,
                "Line": [
                    {"Amount": 30, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
                ],
            },
        )
        await qbo.store.webhooks.flush()
    stamp = utc(payment)
    assert changes_in(receiver.requests[1].body) == [
        (qbo.realm_id, "payment", payment["Id"], "Create", stamp),
        (qbo.realm_id, "invoice", invoice["Id"], "Update", stamp),
        (qbo.realm_id, "customer", customer["Id"], "Update", stamp),
    ]


async def test_default_client_posts_over_the_network() -> None:
    receiver = Receiver()
    # Bound and listening before uvicorn runs, so the first POST waits in the backlog.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(receiver.app(), log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        config = EmulatorConfig(webhooks=hook_config(url=f"http://127.0.0.1:{port}/hook"))
        app = create_app(config)
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://qbo.test"
            ) as client,
            app.router.lifespan_context(app),
        ):
            realm_id = (await client.post("/admin/companies", json={})).json()["realm_id"]
            await client.patch(f"/admin/companies/{realm_id}/items/1", json={"UnitPrice": 9})
            flushed = (await client.post("/admin/webhooks/flush")).json()["attempt"]
    finally:
        server.should_exit = True
        await serving
        sock.close()
    assert (flushed["outcome"], flushed["status_code"]) == ("delivered", 200)
    [request] = receiver.requests
    assert changes_in(request.body)[0][1:4] == ("item", "1", "Update")
    assert verify(request.body, request.headers["intuit-signature"], TOKEN)
