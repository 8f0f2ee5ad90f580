"""The emulator meters reads per app and month and answers past its quota as Intuit does:
HTTP 429 for every read until the month ends, writes untouched; the service tells that
429 from a throttle and parks only reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from arq.connections import ArqRedis
from pydantic import SecretStr

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Settings
from app.qbo import Limits, QboClient, QboError, ReadMeter, ReadPurpose, ReadsWait, RealmBudget
from app.qbo.errors import classify
from tests.fixtures.world import Books


async def _token(books: Books, realm: str) -> SecretStr:
    minted = (
        await books.client.post(
            f"/admin/companies/{realm}/tokens",
            json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
        )
    ).json()
    return SecretStr(minted["access_token"])


async def _advance_to_next_month(books: Books) -> None:
    now = datetime.fromisoformat((await books.client.get("/admin/clock")).json()["now"])
    first = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    seconds = (first - now.astimezone(UTC)).total_seconds() + 1
    answer = await books.client.post("/admin/clock/advance", json={"seconds": seconds})
    assert answer.status_code == 200


async def test_reads_past_the_quota_get_429_until_the_next_month(
    books: Books, settings: Settings
) -> None:
    realm = await books.company()
    token = await _token(books, realm)
    headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}
    answer = await books.client.put("/admin/reads/quota", json={"monthly_quota": 2})
    assert answer.json() == {"monthly_quota": 2}
    base = f"/v3/company/{realm}"
    for _ in range(2):
        assert (
            await books.client.get(f"{base}/companyinfo/{realm}", headers=headers)
        ).status_code == 200
    refused = await books.client.get(
        f"{base}/query", params={"query": "SELECT * FROM Customer"}, headers=headers
    )
    assert refused.status_code == 429
    fault: dict[str, Any] = refused.json()["Fault"]
    assert fault["type"] == "SERVICE"
    assert fault["Error"][0]["code"] == "3001"
    assert "monthly" in fault["Error"][0]["Detail"]
    error = classify(429, refused.content)
    assert error is not None
    assert error.monthly_quota
    # A throttle is not the month's quota.
    throttle = (
        b'{"Fault":{"Error":[{"Message":"message=ThrottleExceeded; errorCode=003001; '
        b'statusCode=429","Detail":"The request limit was reached.  Try again later",'
        b'"code":"3001"}],"type":"SERVICE"}}'
    )
    throttled = classify(429, throttle)
    assert throttled is not None
    assert not throttled.monthly_quota
    # Writes are not metered: they go on.
    created = await books.client.post(
        f"{base}/customer",
        params={"requestid": "quota-1"},
        json={"DisplayName": "Past the quota"},
        headers=headers,
    )
    assert created.status_code == 200
    usage = (await books.client.get("/admin/reads")).json()
    assert list(usage["usage"][EMULATOR_CLIENT_ID].values()) == [2]
    await _advance_to_next_month(books)
    token = await _token(books, realm)  # the old one expired on the way
    headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    assert (
        await books.client.get(f"{base}/companyinfo/{realm}", headers=headers)
    ).status_code == 200


async def test_the_client_parks_reads_not_the_realm_on_the_quota_429(
    books: Books, settings: Settings, redis: ArqRedis
) -> None:
    realm = await books.company()
    token = await _token(books, realm)
    await books.client.put("/admin/reads/quota", json={"monthly_quota": 0})
    budget = RealmBudget(redis, Limits())
    meter = ReadMeter(redis, 0)
    client = QboClient(settings, realm, token, books.transport, budget=budget, meter=meter)
    with pytest.raises(ReadsWait, match="used up"):
        await client.query("SELECT * FROM Customer", purpose=ReadPurpose.EXACTLY_ONCE)
    # Not a throttle: the realm is not paused, and writes go on.
    assert (await budget.state(realm)).paused_for == 0
    written = await client.write("Customer", '{"DisplayName": "Writes go on"}', "quota-2")
    assert written["DisplayName"] == "Writes go on"
    # Every later read waits without asking QBO.
    served = (await books.counters(realm))["requests_served"]
    with pytest.raises(ReadsWait):
        await client.read("Customer", written["Id"])
    assert (await books.counters(realm))["requests_served"] == served
    assert (await meter.month_reads()).spent


def test_a_plain_throttle_stays_a_throttle() -> None:
    error = classify(429, b"")
    assert isinstance(error, QboError)
    assert not error.monthly_quota
