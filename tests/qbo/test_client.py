"""QboClient: requestid on every write, transport retries, classified errors, exact bodies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx
from fastapi import FastAPI
from pydantic import SecretStr

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Settings
from app.core.failures import Category
from app.qbo.client import QboClient
from app.qbo.errors import QboError, classify_item
from app.sync.payloads import body_json
from tests.support.oauth import EMULATOR

BASE = "https://sandbox-quickbooks.api.intuit.com/v3/company/123"
FIXTURES = Path(__file__).parent / "fixtures"
# The header and value QBO's sandbox sent with the recorded batch answer (qbo_api VCR
# cassette `batch/basic.yml`, September 2020): `Intuit-Tid`, not `intuit_tid`.
RECORDED_TID = ("Intuit-Tid", "1-5f734f0e-58baa045003ab251111c54e6")
SANDBOX = Settings(
    _env_file=None,
    qbo_environment="sandbox",
    qbo_client_id="id",
    qbo_client_secret="secret",
)


def client(transport: httpx.AsyncBaseTransport | None = None) -> QboClient:
    return QboClient(SANDBOX, "123", SecretStr("access"), transport, retry_wait_max=0.01)


@respx.mock
async def test_a_write_carries_requestid_minorversion_and_the_exact_body() -> None:
    route = respx.post(f"{BASE}/invoice").respond(
        200, json={"Invoice": {"Id": "7", "SyncToken": "0"}, "time": "t"}
    )
    payload = '{"Line":[{"Amount":12.50}],"CustomerRef":{"value":"1"}}'
    created = await client().write("Invoice", payload, "req-1")

    assert created == {"Id": "7", "SyncToken": "0"}
    request = route.calls.last.request
    assert request.url.params["requestid"] == "req-1"
    assert request.url.params["minorversion"] == "75"
    assert request.headers["authorization"] == "Bearer access"
    assert request.headers["content-type"] == "application/json"
    assert request.content.decode() == payload  # 12.50 as sent, never through a float


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("delete", {"operation": "delete"}),
        ("void_invoice", {"operation": "void"}),
        ("void_payment", {"operation": "update", "include": "void"}),
    ],
)
@respx.mock
async def test_operations_are_spelled_as_qbo_wants(operation: str, params: dict[str, str]) -> None:
    entity = "Payment" if "payment" in operation else "Invoice"
    route = respx.post(f"{BASE}/{entity.lower()}").respond(200, json={entity: {"Id": "1"}})
    await client().write(entity, '{"Id":"1","SyncToken":"0"}', "r", operation)
    sent = route.calls.last.request.url.params
    assert {k: sent[k] for k in params} == params


@respx.mock
async def test_transport_errors_are_retried_with_the_same_requestid() -> None:
    route = respx.post(f"{BASE}/customer").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("lost"),
            httpx.Response(200, json={"Customer": {"Id": "3"}}),
        ]
    )
    assert (await client().write("Customer", "{}", "same-id"))["Id"] == "3"
    assert route.call_count == 3
    assert {c.request.url.params["requestid"] for c in route.calls} == {"same-id"}


@respx.mock
async def test_three_lost_answers_make_an_ambiguous_write() -> None:
    respx.post(f"{BASE}/customer").mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(QboError) as caught:
        await client().write("Customer", "{}", "r")
    assert caught.value.category is Category.TRANSIENT
    assert caught.value.ambiguous
    respx.get(f"{BASE}/customer/1").mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(QboError) as read:
        await client().read("Customer", "1")
    assert not read.value.ambiguous  # a read changes nothing


@respx.mock
async def test_faults_are_classified_even_inside_a_200() -> None:
    fault = {"Fault": {"Error": [{"Message": "Stale", "code": "5010"}], "type": "ValidationFault"}}
    respx.post(f"{BASE}/customer").respond(400, json=fault, headers={"intuit_tid": "tid-1"})
    with pytest.raises(QboError) as caught:
        await client().write("Customer", "{}", "r")
    assert caught.value.category is Category.STALE
    assert caught.value.intuit_tid == "tid-1"

    respx.get(f"{BASE}/customer/2").respond(200, json=fault)
    with pytest.raises(QboError) as inside:
        await client().read("Customer", "2")
    assert inside.value.category is Category.STALE


@respx.mock
async def test_batch_items_keep_the_intuit_tid_header_qbo_sends() -> None:
    recorded = (FIXTURES / "batch__basic__0.response.json").read_bytes()
    header, tid = RECORDED_TID
    respx.post(f"{BASE}/batch").respond(
        200, content=recorded, headers={header: tid, "Content-Type": "application/json"}
    )
    answers = await client().batch(['{"bId":"bid1"}'], "batch-1")

    by_bid = {a["bId"]: a for a in answers}
    for bid in ("bid2", "bid3"):  # the two items that hold a Fault
        error = classify_item(by_bid[bid])
        assert error is not None
        assert error.intuit_tid == tid


@pytest.mark.parametrize("header", ["Intuit-Tid", "intuit_tid"])
@respx.mock
async def test_a_fault_keeps_the_intuit_tid_under_either_spelling(header: str) -> None:
    recorded = (FIXTURES / "error__401__0.response.json").read_bytes()
    respx.get(f"{BASE}/customer/1").respond(401, content=recorded, headers={header: "1-5f7349e0"})
    with pytest.raises(QboError) as caught:
        await client().read("Customer", "1")
    assert caught.value.category is Category.AUTH
    assert caught.value.intuit_tid == "1-5f7349e0"


async def test_requestid_longer_than_fifty_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="requestid"):
        await client().write("Customer", "{}", "x" * 51)


@pytest.fixture
async def realm(
    emulator: FastAPI, emulator_client: httpx.AsyncClient
) -> tuple[str, QboClient, httpx.AsyncClient]:
    """A company in the `emulator`, a QboClient holding its token, and the emulator's client."""
    created = await emulator_client.post("/admin/companies", json={"name": "Acme"})
    realm_id = created.json()["realm_id"]
    tokens = (
        await emulator_client.post(
            f"/admin/companies/{realm_id}/tokens",
            json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
        )
    ).json()
    settings = Settings(_env_file=None, emulator_url=EMULATOR)
    qbo = QboClient(
        settings,
        realm_id,
        SecretStr(tokens["access_token"]),
        httpx.ASGITransport(app=emulator),
        retry_wait_max=0.01,
    )
    return realm_id, qbo, emulator_client


async def test_a_repeated_requestid_writes_once(
    realm: tuple[str, QboClient, httpx.AsyncClient],
) -> None:
    _, qbo, _ = realm
    payload = body_json({"DisplayName": "O'Brien & Sons"})
    first = await qbo.write("Customer", payload, "evt-1:create")
    again = await qbo.write("Customer", payload, "evt-1:create")
    assert again["Id"] == first["Id"]
    rows = await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons'")
    assert [r["Id"] for r in rows] == [first["Id"]]
    assert (await qbo.read("Customer", first["Id"]))["SyncToken"] == "0"


async def test_a_lost_answer_is_ambiguous_and_the_write_was_applied(
    realm: tuple[str, QboClient, httpx.AsyncClient],
) -> None:
    realm_id, qbo, admin = realm
    faults = {"timeout_rate": 1.0, "timeout_hold_seconds": 0.05}
    await admin.put(f"/admin/companies/{realm_id}/faults", json=faults)
    with pytest.raises(QboError) as caught:
        await qbo.write("Customer", body_json({"DisplayName": "Lost Answer Ltd"}), "evt-2:create")
    # The emulator held the answer back, then a gateway 504: QBO may have written it.
    assert caught.value.category is Category.TRANSIENT
    await admin.delete(f"/admin/companies/{realm_id}/faults")
    rows = await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Lost Answer Ltd'")
    assert len(rows) == 1
    replay = await qbo.write(
        "Customer", body_json({"DisplayName": "Lost Answer Ltd"}), "evt-2:create"
    )
    assert replay["Id"] == rows[0]["Id"]
