"""Connecting, reconnecting and disconnecting a company, against the emulator (no browser)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection, OAuthState
from app.connections.tokens import read_tokens
from app.core.keys import EntityKey
from app.db import utcnow
from app.emulator.app import store_of
from app.events.models import Event
from app.mappings.models import EntityMapping
from app.qbo.oauth import OAuthFailure
from app.sync.deps import SyncDeps
from app.sync.engine import sync_entity
from tests.fixtures.keys import KeyFactory
from tests.support.factories import customer_event
from tests.support.oauth import EMULATOR, consent, start_and_consent

Factory = async_sessionmaker[AsyncSession]

# A parked realm is left before any token is needed.
NO_TOKENS: Any = object()


async def connect(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    realm: str = "new",
) -> httpx.Response:
    _, callback = await start_and_consent(api_client, emulator_client, admin, realm=realm)
    return await api_client.get(callback)


async def test_connect_list_and_no_token_in_answers(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    started = await api_client.post("/connections", headers=admin)
    body = started.json()
    assert len(body["state"]) >= 43  # 256 random bits, url-safe base64
    assert body["authorization_url"].startswith(f"{EMULATOR}/connect/oauth2?")
    assert urlsplit(body["expires_at"]) is not None

    result = await api_client.get(await consent(emulator_client, body["authorization_url"]))
    assert result.status_code == 200
    assert "Connected to Acme Books" in result.text

    listed = (await api_client.get("/connections", headers=admin)).json()
    assert len(listed) == 1
    connection = listed[0]
    assert connection["status"] == "active"
    assert connection["company_name"] == "Acme Books"
    assert connection["country"] == "US"
    assert connection["reconnect_by"] is not None
    assert connection["access_token_expires_at"] is not None
    one = await api_client.get(f"/connections/{connection['realm_id']}", headers=admin)
    assert one.json() == connection
    async with session_factory() as session:
        row = (await session.scalars(select(Connection))).one()
        state = (await session.scalars(select(OAuthState))).one()
    assert row.access_token_enc
    assert row.refresh_token_enc
    assert row.preferences
    assert body["state"] not in state.state_hash  # only a hash is stored
    for answer in (listed, one.json()):
        assert 'token"' not in str(answer).replace("expires", "")


async def test_forged_reused_and_expired_states_change_nothing(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    started, callback = await start_and_consent(api_client, emulator_client, admin)
    forged = callback.replace(started["state"], "forged-state")
    assert (await api_client.get(forged)).status_code == 400

    assert (await api_client.get(callback)).status_code == 200
    reused = await api_client.get(callback)
    assert reused.status_code == 400
    assert "already used" in reused.text

    other = (await api_client.post("/connections", headers=admin)).json()
    late = await consent(emulator_client, other["authorization_url"])
    async with session_factory() as session:
        await session.execute(
            update(OAuthState)
            .where(OAuthState.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await api_client.get(late)).status_code == 400
    async with session_factory() as session:
        assert len((await session.scalars(select(Connection))).all()) == 1


async def test_access_denied(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    _, callback = await start_and_consent(api_client, emulator_client, admin, "deny")
    denied = await api_client.get(callback)
    assert denied.status_code == 400
    assert "denied" in denied.text
    async with session_factory() as session:
        assert (await session.scalars(select(Connection))).all() == []


async def test_disconnect_then_reconnect_keeps_mappings_and_resumes_events(
    api: FastAPI,
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    make_key: KeyFactory,
    emulator: FastAPI,
    session_factory: Factory,
    redis: ArqRedis,
) -> None:
    realm = store_of(emulator).create_company("Acme Books").realm_id
    assert (await connect(api_client, emulator_client, admin, realm)).status_code == 200
    async with session_factory() as session:
        row = (await session.scalars(select(Connection))).one()
        session.add(
            EntityMapping(
                realm_id=realm, entity_type="customer", external_id="c1", qbo_id="1", sync_token="0"
            )
        )
        await session.commit()

    _, refresh = read_tokens(row, api.state.cipher)
    gone = await api_client.delete(f"/connections/{realm}", headers=admin)
    assert gone.status_code == 200
    assert gone.json()["status"] == "disconnected"
    assert gone.json()["revoked_at_intuit"] is True
    with pytest.raises(OAuthFailure) as dead:  # revoked at Intuit, not only forgotten here
        await (await api.state.oauth.get()).refresh(refresh)
    assert dead.value.invalid_grant

    writer = {"Authorization": f"Bearer {await make_key('billing', ['events:write'])}"}
    event = customer_event("c1", realm_id=realm)
    assert (await api_client.post("/events", json=event, headers=writer)).status_code == 202
    # A worker meets the disconnected realm: the event waits for the connection.
    deps = SyncDeps(settings=api.state.settings, engine=api.state.engine, keeper=NO_TOKENS)
    parked = await sync_entity(deps, EntityKey(realm, "customer", "c1"))
    assert parked.result == "waiting_connection"
    await redis.flushdb()

    again = await connect(api_client, emulator_client, admin, realm)
    assert again.status_code == 200
    async with session_factory() as session:
        reconnected = (await session.scalars(select(Connection))).one()
        mapping = (await session.scalars(select(EntityMapping))).one()
        status = (await session.scalars(select(Event.status))).one()
    assert reconnected.id == row.id
    assert reconnected.status == "active"
    assert mapping.qbo_id == "1"
    assert status == "pending"
    assert {tuple(j.args) for j in await redis.queued_jobs()} == {(realm,)}
