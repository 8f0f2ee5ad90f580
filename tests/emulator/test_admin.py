"""Admin API, requestid replay, fault injection, the home page and the CLI command."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from app.emulator.cli import config_from_args, register
from app.emulator.config import EmulatorConfig, LimitsConfig
from tests.fixtures.qbo import Qbo, emulator_company, fault_code


async def test_company_lifecycle_and_listing(qbo: Qbo) -> None:
    created = await qbo.client.post(
        "/admin/companies", json={"name": "Maple Ltd", "country": "CA", "custom_txn_numbers": True}
    )
    assert created.status_code == 201
    summary = created.json()
    assert summary["country"] == "CA"
    assert summary["counts"]["taxcodes"] == 4  # three active, one inactive
    listed = (await qbo.client.get("/admin/companies")).json()
    assert {c["realm_id"] for c in listed} == {qbo.realm_id, summary["realm_id"]}
    await qbo.customer("Listed")
    customers = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/customers")).json()
    assert [c["DisplayName"] for c in customers] == ["Listed"]
    accounts = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/accounts")).json()
    assert {"Services", "Sales of Product Income"} <= {a["Name"] for a in accounts}
    assert (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/widgets")).status_code == 404
    prefs = await qbo.client.patch(
        f"/admin/companies/{qbo.realm_id}", json={"custom_txn_numbers": True}
    )
    assert prefs.json()["custom_txn_numbers"] is True
    read = (await qbo.get("preferences")).json()["Preferences"]
    assert read["SalesFormsPrefs"]["CustomTxnNumbers"] is True


async def test_accountant_edit_bumps_sync_token(qbo: Qbo) -> None:
    customer = await qbo.customer("Edited")
    qbo.store.clock.advance(10)
    edited = await qbo.client.patch(
        f"/admin/companies/{qbo.realm_id}/customers/{customer['Id']}", json={"Notes": "by hand"}
    )
    assert edited.status_code == 200
    assert edited.json()["SyncToken"] == "1"
    assert edited.json()["MetaData"]["LastUpdatedTime"] != customer["MetaData"]["LastUpdatedTime"]
    stale = await qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "mine"}
    )
    assert fault_code(stale) == "5010"
    clash = await qbo.client.patch(
        f"/admin/companies/{qbo.realm_id}/customers/{customer['Id']}",
        json={"DisplayName": "Books by Bessie"},
    )
    assert clash.status_code == 400
    assert fault_code(clash) == "6240"


async def test_deactivate_and_delete(qbo: Qbo) -> None:
    customer = await qbo.customer("Short Lived")
    invoice = await qbo.invoice(customer["Id"], "10")
    base = f"/admin/companies/{qbo.realm_id}"
    gone = await qbo.client.delete(f"{base}/invoices/{invoice['Id']}")
    assert gone.status_code == 200
    read = await qbo.get(f"invoice/{invoice['Id']}")
    assert fault_code(read) == "610"
    off = await qbo.client.post(f"{base}/customers/{customer['Id']}/deactivate")
    assert off.json()["Active"] is False
    response = await qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": 1,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault_code(response) == "610"


async def test_requestid_replays_the_original_answer(qbo: Qbo) -> None:
    first = await qbo.post("customer", {"DisplayName": "Once"}, requestid="req-1")
    second = await qbo.post("customer", {"DisplayName": "Once"}, requestid="req-1")
    assert second.status_code == 200
    assert second.content == first.content
    count = (await qbo.query("SELECT COUNT(*) FROM Customer")).json()["QueryResponse"]
    assert count == {"totalCount": 1}
    fresh = await qbo.post("customer", {"DisplayName": "Once"}, requestid="req-2")
    assert fault_code(fresh) == "6240"
    again = await qbo.post("customer", {"DisplayName": "Twice"}, requestid="req-2")
    assert fault_code(again) == "6240"  # the original answer, even for another body


async def test_requestid_is_per_realm(qbo: Qbo) -> None:
    await qbo.post("customer", {"DisplayName": "Here"}, requestid="shared")
    other = (await qbo.client.post("/admin/companies", json={"name": "Other"})).json()
    tokens = (await qbo.client.post(f"/admin/companies/{other['realm_id']}/tokens")).json()
    response = await qbo.client.post(
        f"/v3/company/{other['realm_id']}/customer",
        params={"requestid": "shared"},
        json={"DisplayName": "There"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.json()["Customer"]["DisplayName"] == "There"


async def test_injected_errors_apply_nothing(qbo: Qbo) -> None:
    faults_url = f"/admin/companies/{qbo.realm_id}/faults"
    await qbo.client.put(faults_url, json={"error_500_rate": 1})
    failed = await qbo.post("customer", {"DisplayName": "Lost"})
    assert failed.status_code == 500
    assert failed.json()["Fault"]["type"] == "SystemFault"
    await qbo.client.put(faults_url, json={"error_503_rate": 1})
    unavailable = await qbo.post("customer", {"DisplayName": "Lost"})
    assert unavailable.status_code == 503
    assert unavailable.headers["content-type"].startswith("text/html")
    await qbo.client.delete(faults_url)
    assert (await qbo.post("customer", {"DisplayName": "Lost"})).status_code == 200


async def test_timeout_applies_the_write_and_withholds_the_answer(qbo: Qbo) -> None:
    faults_url = f"/admin/companies/{qbo.realm_id}/faults"
    await qbo.client.put(faults_url, json={"timeout_rate": 1, "timeout_hold_seconds": 0.05})
    lost = await qbo.post("customer", {"DisplayName": "Ambiguous"}, requestid="amb-1")
    assert lost.status_code == 504
    stored = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/customers")).json()
    assert [c["DisplayName"] for c in stored] == ["Ambiguous"]
    await qbo.client.delete(faults_url)
    retry = await qbo.post("customer", {"DisplayName": "Ambiguous"}, requestid="amb-1")
    assert retry.status_code == 200
    assert retry.json()["Customer"]["Id"] == stored[0]["Id"]
    blind = await qbo.post("customer", {"DisplayName": "Ambiguous"})
    assert fault_code(blind) == "6240"


async def test_timeout_holds_until_the_client_gives_up(qbo: Qbo) -> None:
    await qbo.client.put(
        f"/admin/companies/{qbo.realm_id}/faults",
        json={"timeout_rate": 1, "timeout_hold_seconds": 30},
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(qbo.post("customer", {"DisplayName": "Held"}), timeout=0.2)
    stored = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}/customers")).json()
    assert [c["DisplayName"] for c in stored] == ["Held"]


async def test_latency_is_added() -> None:
    config = EmulatorConfig(limits=LimitsConfig(enabled=False))
    async with emulator_company(config) as qbo:
        await qbo.client.put(f"/admin/companies/{qbo.realm_id}/faults", json={"latency_ms": 120})
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await qbo.get("item/1")).status_code == 200
        assert loop.time() - started >= 0.1


async def test_clock_config_and_reset(qbo: Qbo) -> None:
    before = (await qbo.client.get("/admin/clock")).json()["elapsed_seconds"]
    moved = (await qbo.client.post("/admin/clock/advance", json={"seconds": 3600})).json()
    assert moved["elapsed_seconds"] == before + 3600
    assert (await qbo.get("item/1")).status_code == 401
    patched = await qbo.client.patch("/admin/config", json={"refresh_rotation_seconds": 5})
    assert patched.json()["refresh_rotation_seconds"] == 5
    assert (await qbo.client.post("/admin/reset")).json() == {"companies": 0}
    assert (await qbo.client.get("/admin/companies")).json() == []


async def test_home_page_lists_records(qbo: Qbo) -> None:
    await qbo.customer("<script>alert(1)</script>")
    page = await qbo.client.get("/")
    assert page.status_code == 200
    assert "Acme" in page.text
    assert "&lt;script&gt;" in page.text
    assert "<script>alert" not in page.text
    detail = await qbo.client.get(f"/companies/{qbo.realm_id}")
    assert detail.status_code == 200
    assert "Raw JSON" in detail.text


def test_cli_options() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "emulator",
            "--port",
            "9000",
            "--no-limits",
            "--rotation-seconds",
            "60",
            "--client",
            "id:secret",
            "--seed",
            "4",
        ]
    )
    assert (args.host, args.port) == ("127.0.0.1", 9000)
    config = config_from_args(args)
    assert config.limits.enabled is False
    assert config.refresh_rotation_seconds == 60
    assert config.clients == {"id": "secret"}
    defaults = config_from_args(parser.parse_args(["emulator"]))
    assert defaults.limits.requests_per_window == 500
    assert defaults.limits.max_in_flight == 10
    assert args.func.__name__ == "handler"
