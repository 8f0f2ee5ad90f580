"""Intuit OAuth through authlib, against the emulator's real endpoints (no browser)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from arq.connections import ArqRedis
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.emulator.app import store_of
from app.qbo import CallKind, ReadMeter, month_of
from app.qbo.oauth import Endpoints, IntuitOAuth, OAuthFailure
from app.status.reads import reads_report
from tests.support.oauth import EMULATOR

INTUIT = Endpoints(
    "https://appcenter.intuit.com/connect/oauth2",
    "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
)
# The token endpoint's answers carry `intuit_tid` (intuit/oauth-jsclient test mocks,
# `tokenResponse.json` / `errorResponse.json`); the Accounting API's carry `Intuit-Tid`.
TID_SPELLINGS = ["intuit_tid", "Intuit-Tid"]
TOKEN_ANSWER = {
    "expires_in": 3600,
    "token_type": "bearer",
    "x_refresh_token_expires_in": 8726400,
    "refresh_token": "sample_refresh_token",
    "access_token": "sample_access_token",
}


def intuit_oauth() -> IntuitOAuth:
    settings = Settings(
        _env_file=None, qbo_environment="sandbox", qbo_client_id="id", qbo_client_secret="s"
    )
    return IntuitOAuth(settings, INTUIT, None)


@pytest.fixture
async def oauth(emulator: FastAPI) -> IntuitOAuth:
    settings = Settings(_env_file=None, emulator_url=EMULATOR)
    return await IntuitOAuth.discover(settings, httpx.ASGITransport(app=emulator))


async def approve(emulator_client: httpx.AsyncClient, authorization_url: str) -> dict[str, str]:
    """Open the consent page, create a company, approve; returns the redirect's query."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
    page = await emulator_client.get(authorization_url)
    assert page.status_code == 200
    decision = await emulator_client.post(
        "/connect/oauth2/decision",
        data={**query, "realm_id": "new", "company_name": "Acme Books", "action": "approve"},
    )
    assert decision.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(decision.headers["location"]).query).items()}


async def test_code_exchange_refresh_and_revoke(
    oauth: IntuitOAuth, emulator_client: httpx.AsyncClient, emulator: FastAPI
) -> None:
    url = oauth.authorization_url("state-123")
    assert url.startswith(f"{EMULATOR}/connect/oauth2?")
    assert "scope=com.intuit.quickbooks.accounting" in url
    redirect = await approve(emulator_client, url)
    assert redirect["state"] == "state-123"
    assert redirect["realmId"]

    tokens = await oauth.exchange_code(redirect["code"])
    assert tokens.intuit_tid
    assert tokens.refresh_hard_expires_at is not None  # asked for with Intuit's opt-in header
    assert tokens.refresh_expires_at is not None
    assert (tokens.access_expires_at - tokens.refresh_expires_at).total_seconds() < 0

    with pytest.raises(OAuthFailure) as reused:
        await oauth.exchange_code(redirect["code"])
    assert reused.value.invalid_grant
    assert not reused.value.retryable

    store_of(emulator).clock.advance(3 * 24 * 3600)  # past the rotation interval
    rotated = await oauth.refresh(tokens.refresh_token)
    assert rotated.refresh_token != tokens.refresh_token
    with pytest.raises(OAuthFailure) as stale:
        await oauth.refresh(tokens.refresh_token)
    assert stale.value.invalid_grant
    assert tokens.refresh_token.get_secret_value() not in str(stale.value)

    await oauth.revoke(rotated.refresh_token)
    await oauth.revoke(rotated.refresh_token)  # already revoked: not an error
    with pytest.raises(OAuthFailure) as revoked:
        await oauth.refresh(rotated.refresh_token)
    assert revoked.value.invalid_grant


async def test_unreachable_token_endpoint_is_retryable(oauth: IntuitOAuth) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    broken = IntuitOAuth(oauth._settings, oauth.endpoints, httpx.MockTransport(refuse))
    with pytest.raises(OAuthFailure) as caught:
        await broken.refresh(SecretStr("rt"))
    assert caught.value.retryable
    assert caught.value.error == "transport"


async def test_discovery_failure_is_reported() -> None:
    settings = Settings(_env_file=None, emulator_url=EMULATOR)
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    with pytest.raises(OAuthFailure) as caught:
        await IntuitOAuth.discover(settings, transport)
    assert caught.value.error == "discovery"


@pytest.mark.parametrize("header", TID_SPELLINGS)
@respx.mock
async def test_a_token_answer_keeps_its_intuit_tid(header: str) -> None:
    respx.post(INTUIT.token).respond(200, json=TOKEN_ANSWER, headers={header: "1234-1234-1234-123"})
    tokens = await intuit_oauth().refresh(SecretStr("sample_refresh_token"))
    assert tokens.intuit_tid == "1234-1234-1234-123"


@pytest.mark.parametrize("header", TID_SPELLINGS)
@respx.mock
async def test_a_refused_refresh_keeps_its_intuit_tid(header: str) -> None:
    respx.post(INTUIT.token).respond(
        400,
        json={"error_description": "Token invalid", "error": "invalid_grant"},
        headers={header: "1234-1234-1234-123"},
    )
    with pytest.raises(OAuthFailure) as caught:
        await intuit_oauth().refresh(SecretStr("sample_refresh_token"))
    assert caught.value.invalid_grant
    assert caught.value.intuit_tid == "1234-1234-1234-123"


@pytest.mark.parametrize("header", TID_SPELLINGS)
@respx.mock
async def test_a_failed_revoke_keeps_its_intuit_tid(header: str) -> None:
    respx.post(INTUIT.revocation).respond(503, headers={header: "1234-1234-1234-123"})
    with pytest.raises(OAuthFailure) as caught:
        await intuit_oauth().revoke(SecretStr("sample_refresh_token"))
    assert caught.value.intuit_tid == "1234-1234-1234-123"


GATEWAY_TIMEOUT = (
    "<html><head><title>504 Gateway Time-out</title></head><body>"
    "<center><h1>504 Gateway Time-out</h1></center></body></html>"
)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(504, text=GATEWAY_TIMEOUT, headers={"Content-Type": "text/html"}),
        httpx.Response(504, json={"error": "gateway_timeout"}),
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("connection reset"),
    ],
    ids=["504-html", "504-json", "read-timeout", "reset"],
)
@respx.mock
async def test_a_lost_token_answer_says_intuit_may_have_rotated(
    answer: httpx.Response | Exception,
) -> None:
    respx.post(INTUIT.token).mock(side_effect=[answer])
    with pytest.raises(OAuthFailure) as caught:
        await intuit_oauth().refresh(SecretStr("sample_refresh_token"))
    assert caught.value.answer_lost
    assert caught.value.retryable
    assert not caught.value.invalid_grant
    assert "sample_refresh_token" not in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
@respx.mock
async def test_a_server_error_of_the_token_endpoint_is_no_lost_answer(status: int) -> None:
    respx.post(INTUIT.token).respond(status, text="<html>error</html>")
    with pytest.raises(OAuthFailure) as caught:
        await intuit_oauth().refresh(SecretStr("sample_refresh_token"))
    assert caught.value.error == "server_error"
    assert caught.value.retryable
    assert not caught.value.answer_lost


async def test_token_calls_are_counted_as_oauth_calls_not_reads(
    oauth: IntuitOAuth,
    emulator_client: httpx.AsyncClient,
    redis: ArqRedis,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    meter = ReadMeter(redis, 100)
    oauth.meter = meter
    redirect = await approve(emulator_client, oauth.authorization_url("state-1"))
    realm = redirect["realmId"]
    tokens = await oauth.exchange_code(redirect["code"], realm_id=realm)
    with pytest.raises(OAuthFailure):  # refused, but it left: counted all the same
        await oauth.exchange_code(redirect["code"], realm_id=realm)
    fresh = await oauth.refresh(tokens.refresh_token, realm_id=realm)
    await oauth.revoke(fresh.refresh_token, realm_id=realm)

    month = month_of(meter.now())
    assert await meter.unfolded() == {(month, realm, CallKind.OAUTH): 4}
    assert (await meter.month_reads()).used == 0  # Intuit meters none of them
    async with session_factory() as session:
        report = await reads_report(session, meter)
    assert (report.oauth, report.reads, report.writes) == (4, 0, 0)
