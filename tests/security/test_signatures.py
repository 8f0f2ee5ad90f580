"""Signatures and secrets are compared in constant time (hmac.compare_digest, seen being
called), and signed messages cannot be replayed: a repeated Intuit webhook delivery stores
nothing new, and a callback notice with an old timestamp (or a recorded signature under a new
timestamp) fails verify_notice."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks.signing import sign_notice, verify_notice
from app.drift import intuit
from app.drift.models import QboChange
from app.ops.sessions import OpsSession, sign, unsign
from app.security import find_active_key, hash_key
from tests.fixtures.keys import KeyFactory

Factory = async_sessionmaker[AsyncSession]
Calls = list[tuple[Any, ...]]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every call of hmac.compare_digest (and `secrets.compare_digest`, the same function)."""
    calls: Calls = []
    original: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(secrets, "compare_digest", spy)
    return calls


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_every_signature_check_is_constant_time(compared: Calls) -> None:
    body, token = b'{"eventNotifications": []}', "verifier-" + secrets.token_hex(8)
    good = intuit.sign(body, token)
    assert intuit.verify(body, good, token)
    assert not intuit.verify(body, good[:-2] + "AA", token)
    assert [as_text(b) for _, b in compared] == [good, good[:-2] + "AA"]

    compared.clear()
    now = int(time.time())
    notice = sign_notice("s" * 32, body, now)
    assert verify_notice("s" * 32, body, str(now), notice)
    assert not verify_notice("t" * 32, body, str(now), notice)
    assert [as_text(b) for _, b in compared] == [notice, notice]

    compared.clear()
    key = secrets.token_bytes(32)
    assert unsign(key, sign(key, "session-id")) == "session-id"
    assert OpsSession("id", "ops", "csrf-token").csrf_matches("csrf-token")
    assert len(compared) == 2


async def test_api_keys_are_found_by_hash_and_compared_in_constant_time(
    app: Any, make_key: KeyFactory, compared: Calls
) -> None:
    key = await make_key("billing", ["events:read"])
    async with app.state.autocommit_engine.connect() as connection:
        found = await find_active_key(connection, key)
        missing = await find_active_key(connection, key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert found is not None
    assert missing is None
    assert compared == [(hash_key(key), hash_key(key))]


def cloudevents(event_id: str) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": event_id,
                "source": "intuit.qbo",
                "type": "qbo.customer.updated.v1",
                "time": "2026-11-25T10:00:00Z",
                "intuitaccountid": "9130357766412345",
                "intuitentityid": "7",
            }
        ]
    ).encode()


def legacy() -> bytes:
    entity = {"name": "Customer", "id": "7", "operation": "Update"}
    entity["lastUpdated"] = "2026-11-25T10:00:00.000Z"
    notification = {"realmId": "9130357766412345", "dataChangeEvent": {"entities": [entity]}}
    return json.dumps({"eventNotifications": [notification]}).encode()


async def changes(factory: Factory) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(QboChange)) or 0)


async def test_a_replayed_webhook_delivery_stores_nothing_new(
    signed_client: httpx.AsyncClient,
    verifier_token: str,
    session_factory: Factory,
    compared: Calls,
) -> None:
    for body in (cloudevents("ce-1"), legacy()):
        headers = {"intuit-signature": intuit.sign(body, verifier_token)}
        before = await changes(session_factory)
        first = await signed_client.post("/webhooks/intuit", content=body, headers=headers)
        assert first.json() == {"received": 1, "new": 1}
        for _ in range(3):
            again = await signed_client.post("/webhooks/intuit", content=body, headers=headers)
            assert again.status_code == 200
            assert again.json() == {"received": 1, "new": 0}
        assert await changes(session_factory) == before + 1
    assert compared  # the route checked each signature with compare_digest

    # Unsigned, wrongly signed, or signed over another body: 401, nothing stored.
    body = cloudevents("ce-2")
    for signature in (None, "", intuit.sign(body, "another-token"), intuit.sign(legacy(), "x")):
        headers = {"intuit-signature": signature} if signature is not None else {}
        refused = await signed_client.post("/webhooks/intuit", content=body, headers=headers)
        assert refused.status_code == 401
    assert await changes(session_factory) == 2


async def test_without_a_verifier_token_every_delivery_is_refused_as_unconfigured(
    client: httpx.AsyncClient, session_factory: Factory
) -> None:
    """Nothing can be verified, so nothing is authenticated: 401, typed so that ops see the
    server's own configuration is missing (never a 5xx; Intuit retries it later)."""
    body = legacy()
    before = await changes(session_factory)
    for signature in (intuit.sign(body, "the-apps-real-token"), None):
        headers = {"intuit-signature": signature} if signature is not None else {}
        refused = await client.post("/webhooks/intuit", content=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/webhook-not-configured")
        assert "QBO_WEBHOOK_VERIFIER_TOKEN" in problem["detail"]
        assert "www-authenticate" not in refused.headers
    assert await changes(session_factory) == before


def test_an_old_or_re_timestamped_callback_notice_fails_verification() -> None:
    secret, body = secrets.token_urlsafe(24), b'{"id": "d1", "kind": "event.synced"}'
    now = 1_800_000_000
    fresh = sign_notice(secret, body, now - 299)
    assert verify_notice(secret, body, str(now - 299), fresh, now=now)

    old = sign_notice(secret, body, now - 301)
    assert not verify_notice(secret, body, str(now - 301), old, now=now)
    future = sign_notice(secret, body, now + 301)
    assert not verify_notice(secret, body, str(now + 301), future, now=now)
    # A recorded notice sent again with a new timestamp: the signature covers the time.
    assert not verify_notice(secret, body, str(now), old, now=now)
    # Or with its body changed.
    assert not verify_notice(secret, body + b" ", str(now - 299), fresh, now=now)
    for stamp in ("", "soon", "1e9", None):
        assert not verify_notice(secret, body, stamp, fresh, now=now)
