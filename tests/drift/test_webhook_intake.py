"""POST /webhooks/intuit at the sizes Intuit sends: thousands of changes in one signed
delivery (either format) are stored once each, and the change job is hinted."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from arq.constants import default_queue_name
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.drift.intuit import sign
from app.drift.models import ChangeStatus, FoundBy, QboChange

REALMS = ("9130357766412345", "9130357766499999")
ENTITIES = ("Customer", "Item", "Invoice", "Payment")
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
Factory = async_sessionmaker[AsyncSession]


def legacy(count: int) -> bytes:
    """One delivery as Intuit sends it: notifications grouped per realm."""
    notifications = []
    for r, realm_id in enumerate(REALMS):
        entities = [
            {
                "name": ENTITIES[i % 4],
                "id": str(1000 + i),
                "operation": "Update",
                "lastUpdated": (T0 + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            }
            for i in range(r, count, len(REALMS))
        ]
        notifications.append({"realmId": realm_id, "dataChangeEvent": {"entities": entities}})
    return json.dumps({"eventNotifications": notifications}, separators=(",", ":")).encode()


def cloudevents(count: int) -> bytes:
    events = [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
            "type": f"qbo.{ENTITIES[i % 4].lower()}.updated.v1",
            "datacontenttype": "application/json",
            "time": (T0 + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            "intuitentityid": str(1000 + i),
            "intuitaccountid": REALMS[i % len(REALMS)],
            "data": {},
        }
        for i in range(count)
    ]
    return json.dumps(events, separators=(",", ":")).encode()


async def stored(factory: Factory) -> list[QboChange]:
    async with factory() as session:
        return list(await session.scalars(select(QboChange)))


async def distinct_keys(factory: Factory) -> int:
    async with factory() as session:
        query = select(func.count(func.distinct(QboChange.dedupe_key)))
        return int(await session.scalar(query) or 0)


@pytest.mark.parametrize(("fmt", "count"), [("legacy", 2600), ("cloudevents", 2600)])
async def test_a_delivery_of_thousands_of_changes_is_stored_once(
    signed_client: httpx.AsyncClient,
    verifier_token: str,
    session_factory: Factory,
    redis: ArqRedis,
    fmt: str,
    count: int,
) -> None:
    body = legacy(count) if fmt == "legacy" else cloudevents(count)
    headers = {"intuit-signature": sign(body, verifier_token)}

    first = await signed_client.post("/webhooks/intuit", content=body, headers=headers)

    assert first.status_code == 200, first.text[:500]
    assert first.json() == {"received": count, "new": count}
    rows = await stored(session_factory)
    assert len(rows) == count == await distinct_keys(session_factory)
    # What the change job reads: QBO's entity name, id, operation and time, pending, due.
    seen = {(r.realm_id, r.entity, r.qbo_id, r.operation, r.changed_at) for r in rows}
    expected = {
        (REALMS[i % 2], ENTITIES[i % 4], str(1000 + i), "Update", T0 + timedelta(milliseconds=i))
        for i in range(count)
    }
    assert seen == expected
    assert {(r.status, r.found_by, r.attempts, r.record) for r in rows} == {
        (ChangeStatus.PENDING.value, FoundBy.WEBHOOK.value, 0, None)
    }
    assert all(r.next_attempt_at <= datetime.now(UTC) for r in rows)
    # Each realm's change job was hinted.
    queued = {job.decode() for job in await redis.zrange(default_queue_name, 0, -1)}
    assert {f"changes:{realm}" for realm in REALMS} <= queued

    # Intuit resends the same bytes until it has its 200: nothing new is stored.
    again = await signed_client.post("/webhooks/intuit", content=body, headers=headers)

    assert again.status_code == 200, again.text[:500]
    assert again.json() == {"received": count, "new": 0}
    assert await distinct_keys(session_factory) == len(await stored(session_factory)) == count


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_the_largest_delivery_fits_the_default_limits(
    signed_client: httpx.AsyncClient, verifier_token: str, session_factory: Factory, fmt: str
) -> None:
    body = legacy(8000) if fmt == "legacy" else cloudevents(8000)
    headers = {"intuit-signature": sign(body, verifier_token)}

    answer = await signed_client.post("/webhooks/intuit", content=body, headers=headers)

    assert answer.status_code == 200, answer.text[:500]
    assert answer.json() == {"received": 8000, "new": 8000}
    assert await distinct_keys(session_factory) == 8000


async def test_concurrent_deliveries_of_shared_changes_are_stored_once(
    signed_client: httpx.AsyncClient, verifier_token: str, session_factory: Factory
) -> None:
    """Intuit retries a delivery it thinks failed while the first is still being stored,
    and one change can be in several deliveries: they meet on the same keys, in any order."""
    rng = random.Random(14)
    sent: set[str] = set()
    for _ in range(4):
        pool: list[dict[str, Any]] = json.loads(cloudevents(200))
        deliveries = [rng.sample(pool, 100) for _ in range(60)]
        bodies = [json.dumps(d).encode() for d in deliveries]

        answers = await asyncio.gather(
            *(
                signed_client.post(
                    "/webhooks/intuit",
                    content=b,
                    headers={"intuit-signature": sign(b, verifier_token)},
                )
                for b in bodies
            )
        )

        failed = [(a.status_code, a.text[:300]) for a in answers if a.status_code != 200]
        assert not failed, f"{len(failed)} of {len(bodies)} deliveries failed: {failed[:3]}"
        ids = {e["id"] for d in deliveries for e in d}
        assert sum(a.json()["new"] for a in answers) == len(ids)
        sent |= ids
    assert await distinct_keys(session_factory) == len(await stored(session_factory)) == len(sent)
