"""Refresh ahead of expiry, rotation, lost answers, revocation: against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, Settings
from app.connections.models import Connection
from app.connections.notify import SIGNATURE_HEADER, send_ops_notice, sign
from app.connections.refresh import (
    ConnectionUnavailable,
    RefreshFailed,
    TokenKeeper,
    access_token,
    refresh_due_connections,
    with_access_token,
)
from app.connections.service import save_connection
from app.connections.tokens import read_tokens
from app.core.cipher import TokenCipher
from app.db import utcnow
from app.emulator.app import store_of
from app.events.models import Event
from app.qbo.client import read_company
from app.qbo.oauth import LazyOAuth, token_set
from tests.support.factories import customer_event
from tests.support.oauth import EMULATOR
from tests.support.realm import connect_realm

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
Factory = async_sessionmaker[AsyncSession]


class LosesAnswers(httpx.AsyncBaseTransport):
    """Passes requests to the emulator; for the next `lose` token calls, the emulator applies
    the request but its answer never arrives (as when a connection drops)."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lose = 0
        self.token_calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == TOKEN_PATH:
            self.token_calls += 1
            if self.lose > 0:
                self.lose -= 1
                await response.aread()
                raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.fixture
def transport(emulator: FastAPI) -> LosesAnswers:
    return LosesAnswers(emulator)


notices: list[httpx.Request] = []


@pytest.fixture
def keeper(settings: Settings, session_factory: Factory, transport: LosesAnswers) -> TokenKeeper:
    notices.clear()

    def receive(request: httpx.Request) -> httpx.Response:
        notices.append(request)
        return httpx.Response(204)

    configured = settings.model_copy(
        update={
            "emulator_url": EMULATOR,
            "ops_webhook_url": "https://ops.example/hooks/qbo",
            "ops_webhook_secret": SecretStr("notice-secret"),
        }
    )
    return TokenKeeper(
        settings=configured,
        session_factory=session_factory,
        oauth=LazyOAuth(configured, transport),
        cipher=TokenCipher.from_settings(configured),
        notice_transport=httpx.MockTransport(receive),
    )


async def stored(factory: Factory, realm: str) -> Connection:
    async with factory() as session:
        row = await session.scalar(select(Connection).where(Connection.realm_id == realm))
    assert row is not None
    return row


async def test_a_fresh_token_is_served_without_a_token_call(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, minted = await connect_realm(emulator_client, session_factory, keeper.cipher)
    token = await access_token(keeper, realm)
    assert token.get_secret_value() == minted["access_token"]
    assert transport.token_calls == 0


async def test_refresh_within_five_minutes_stores_the_rotated_pair(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    emulator: FastAPI,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    store_of(emulator).config.refresh_rotation_seconds = 0  # every refresh rotates
    realm, minted = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=4)
    )
    token = await access_token(keeper, realm)

    assert token.get_secret_value() != minted["access_token"]
    assert transport.token_calls == 1
    row = await stored(session_factory, realm)
    access, refresh = read_tokens(row, keeper.cipher)
    assert access == token
    assert refresh.get_secret_value() != minted["refresh_token"]
    assert row.access_token_expires_at is not None
    assert row.access_token_expires_at > utcnow() + timedelta(minutes=55)
    # The superseded refresh token is dead at Intuit; the stored one works.
    dead = await emulator_client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]},
        auth=("qbo-sync-local", "qbo-sync-local-secret"),
    )
    assert dead.json()["error"] == "invalid_grant"
    assert (await access_token(keeper, realm)) == token  # fresh now: no second call
    assert transport.token_calls == 1


async def test_lost_answer_is_recovered_with_the_stored_token(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, _ = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    transport.lose = 1
    token = await access_token(keeper, realm)

    assert transport.token_calls == 2
    row = await stored(session_factory, realm)
    assert row.status == "active"
    assert read_tokens(row, keeper.cipher)[0] == token


async def test_lost_answer_after_rotation_is_reported_clearly(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    emulator: FastAPI,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    store_of(emulator).config.refresh_rotation_seconds = 0
    realm, _ = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    transport.lose = 1
    with pytest.raises(ConnectionUnavailable) as caught:
        await access_token(keeper, realm)

    assert caught.value.status == "needs_reauth"
    assert (await stored(session_factory, realm)).status == "needs_reauth"
    notice = json.loads(notices[0].content)
    assert "lost after Intuit rotated" in notice["detail"]


async def test_unreachable_intuit_changes_nothing(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, minted = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    transport.lose = 2  # the call and the one retry both lose their answers
    with pytest.raises(RefreshFailed):
        await access_token(keeper, realm)

    row = await stored(session_factory, realm)
    assert row.status == "active"
    assert row.refresh_failures == 1
    assert read_tokens(row, keeper.cipher)[1].get_secret_value() == minted["refresh_token"]


async def test_revocation_parks_events_notifies_and_waits(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    transport: LosesAnswers,
) -> None:
    realm, _ = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    assert (
        await client.post("/events", json=customer_event(realm_id=realm), headers=auth)
    ).status_code == 202
    await emulator_client.post(f"/admin/companies/{realm}/revoke")

    with pytest.raises(ConnectionUnavailable):
        await access_token(keeper, realm)

    row = await stored(session_factory, realm)
    assert row.status == "needs_reauth"
    assert row.refresh_failures == 1
    async with session_factory() as session:
        assert set((await session.scalars(select(Event.status))).all()) == {"waiting_connection"}
    assert len(notices) == 1
    body = notices[0].content
    assert notices[0].headers[SIGNATURE_HEADER] == sign("notice-secret", body)
    notice = json.loads(body)
    assert notice["kind"] == "connection.needs_reauth"
    assert notice["realm_id"] == realm
    assert notice["error"] == "invalid_grant"
    with pytest.raises(ConnectionUnavailable):  # no more token calls for it
        await access_token(keeper, realm)

    # Reconnecting (what the OAuth callback stores) resumes the parked events.
    minted = (
        await emulator_client.post(
            f"/admin/companies/{realm}/tokens",
            json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
        )
    ).json()
    tokens = token_set(minted, None)
    profile = await read_company(keeper.settings, realm, tokens.access_token, transport)
    async with session_factory() as session, session.begin():
        _, resumed = await save_connection(
            session, keeper.settings, realm, tokens, profile, keeper.cipher
        )
    assert [k.external_id for k in resumed] == ["cust-1"]
    assert (await stored(session_factory, realm)).status == "active"
    async with session_factory() as session:
        assert set((await session.scalars(select(Event.status))).all()) == {"pending"}


async def test_cron_refreshes_expiring_and_idle_connections_only(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    expiring, _ = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=10)
    )
    idle, _ = await connect_realm(emulator_client, session_factory, keeper.cipher)
    fresh, _ = await connect_realm(emulator_client, session_factory, keeper.cipher)
    async with session_factory() as session:
        await session.execute(
            update(Connection)
            .where(Connection.realm_id == idle)
            .values(last_refreshed_at=utcnow() - timedelta(days=30))
        )
        await session.commit()

    outcomes = await refresh_due_connections(keeper)

    assert outcomes == {expiring: "refreshed", idle: "refreshed"}
    assert fresh not in outcomes
    assert transport.token_calls == 2
    assert await refresh_due_connections(keeper) == {}


async def test_ops_notice_is_retried_until_delivered(settings: Settings) -> None:
    answers = iter([httpx.Response(503), httpx.Response(500), httpx.Response(204)])
    seen: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    configured = settings.model_copy(
        update={"ops_webhook_url": "https://ops.example/", "ops_webhook_secret": SecretStr("s")}
    )
    delivered = await send_ops_notice(
        configured, "connection.needs_reauth", {"realm_id": "1"}, httpx.MockTransport(receive), 0
    )
    assert delivered
    assert len(seen) == 3
    assert len({r.content for r in seen}) == 1  # the same signed body each time
    assert not await send_ops_notice(settings, "x", {})  # no URL configured: nothing sent


async def test_a_401_refreshes_once_and_retries(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    emulator: FastAPI,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, minted = await connect_realm(emulator_client, session_factory, keeper.cipher)
    # Intuit's clock has passed the access token's hour while ours still believes in it.
    store_of(emulator).clock.advance(3700)

    async def company_name(token: SecretStr) -> str | None:
        profile = await read_company(keeper.settings, realm, token, transport)
        return profile.name

    assert await with_access_token(keeper, realm, company_name) == "Acme Books"
    assert transport.token_calls == 1
    row = await stored(session_factory, realm)
    assert read_tokens(row, keeper.cipher)[0].get_secret_value() != minted["access_token"]


async def test_a_401_after_revocation_takes_the_needs_reauth_path(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, _ = await connect_realm(emulator_client, session_factory, keeper.cipher)
    await emulator_client.post(f"/admin/companies/{realm}/revoke")

    async def company_name(token: SecretStr) -> str | None:
        return (await read_company(keeper.settings, realm, token, transport)).name

    with pytest.raises(ConnectionUnavailable):
        await with_access_token(keeper, realm, company_name)
    assert (await stored(session_factory, realm)).status == "needs_reauth"
    assert json.loads(notices[0].content)["realm_id"] == realm


async def test_a_refresh_answered_504_is_retried_with_the_stored_token(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    # The emulator applies the refresh and answers it as a gateway that timed out (504).
    # Intuit has not rotated the refresh token yet: one more call with it recovers the pair.
    realm, minted = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    await emulator_client.post("/admin/oauth/lose-refresh-replies", json={"count": 1})
    token = await access_token(keeper, realm)

    assert transport.token_calls == 2
    row = await stored(session_factory, realm)
    assert row.status == "active"
    assert row.refresh_failures == 0
    assert token.get_secret_value() != minted["access_token"]
    assert read_tokens(row, keeper.cipher)[0] == token
    assert notices == []


async def test_a_refresh_answered_504_after_rotation_needs_reauth_with_that_reason(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    emulator: FastAPI,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    store_of(emulator).config.refresh_rotation_seconds = 0  # the lost answer carried a new token
    realm, _ = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    await emulator_client.post("/admin/oauth/lose-refresh-replies", json={"count": 1})
    with pytest.raises(ConnectionUnavailable) as caught:
        await access_token(keeper, realm)

    assert caught.value.status == "needs_reauth"
    assert transport.token_calls == 2  # the stored token was tried once more, not more
    row = await stored(session_factory, realm)
    assert row.status == "needs_reauth"
    notice = json.loads(notices[0].content)
    assert notice["error"] == "invalid_grant"
    assert "lost after Intuit rotated" in notice["detail"]


async def test_two_refreshes_answered_504_change_nothing(
    keeper: TokenKeeper,
    emulator_client: httpx.AsyncClient,
    session_factory: Factory,
    transport: LosesAnswers,
) -> None:
    realm, minted = await connect_realm(
        emulator_client, session_factory, keeper.cipher, expires_in=timedelta(minutes=1)
    )
    await emulator_client.post("/admin/oauth/lose-refresh-replies", json={"count": 2})
    with pytest.raises(RefreshFailed) as caught:
        await access_token(keeper, realm)

    assert caught.value.failure.answer_lost
    assert transport.token_calls == 2
    row = await stored(session_factory, realm)
    assert row.status == "active"
    assert read_tokens(row, keeper.cipher)[1].get_secret_value() == minted["refresh_token"]
