"""Intuit's OAuth flows against the emulator: consent page, code once, refresh rotation,
invalid_grant, revoke, hard expiry, discovery, and what an expired token gets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.emulator.app import create_app, store_of
from app.emulator.config import EmulatorConfig
from app.emulator.store import Store

CLIENT = ("app-id", "app-secret")
REDIRECT = "https://sync.example/callback"


@pytest.fixture
async def web() -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    app = create_app(EmulatorConfig(frozen_clock=True, refresh_rotation_seconds=3600))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emu.test")
    try:
        yield client, store_of(app)
    finally:
        await client.aclose()


async def consent(
    client: httpx.AsyncClient, action: str = "approve", **form: str
) -> dict[str, str]:
    page = await client.get(
        "/connect/oauth2",
        params={
            "client_id": CLIENT[0],
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT,
            "state": "xyz",
        },
    )
    assert page.status_code == 200
    assert "Approve" in page.text
    assert "Deny" in page.text
    hidden = dict(re.findall(r"name='(\w+)' value='([^']*)'", page.text))
    fields = {**hidden, "realm_id": "new", "company_name": "Web Co", "action": action, **form}
    answer = await client.post("/connect/oauth2/decision", data=fields)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def token_call(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **form: str
) -> httpx.Response:
    return await client.post(
        "/oauth2/v1/tokens/bearer",
        data=form,
        auth=CLIENT,
        headers={"Accept": "application/json", **(headers or {})},
    )


async def test_authorization_code_flow(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = web
    redirect = await consent(client)
    assert redirect["state"] == "xyz"
    assert store.company(redirect["realmId"]) is not None
    first = await token_call(
        client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
    )
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8_726_400
    assert "x_refresh_token_hard_expires_in" not in body
    assert "intuit_tid" in first.headers
    again = await token_call(
        client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
    )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    api = await client.get(
        f"/v3/company/{redirect['realmId']}/companyinfo/{redirect['realmId']}",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert api.json()["CompanyInfo"]["CompanyName"] == "Web Co"


async def test_deny_redirects_with_access_denied(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = web
    redirect = await consent(client, action="deny")
    assert redirect == {"error": "access_denied", "state": "xyz"}


async def test_refresh_rotation_and_superseded_token(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = web
    redirect = await consent(client)
    tokens = (
        await token_call(
            client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
        )
    ).json()
    same = (
        await token_call(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    ).json()
    assert same["refresh_token"] == tokens["refresh_token"]
    assert same["access_token"] != tokens["access_token"]
    store.clock.advance(3600)
    rotated = await token_call(
        client,
        {"x-include-refresh-token-hard-expires-in": "true"},
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["x_refresh_token_hard_expires_in"] > new["x_refresh_token_expires_in"]
    stale = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert (stale.status_code, stale.json()["error"]) == (400, "invalid_grant")
    assert (
        await token_call(client, grant_type="refresh_token", refresh_token=new["refresh_token"])
    ).status_code == 200


async def test_expired_access_token_gets_401_then_refresh_works(
    web: tuple[httpx.AsyncClient, Store],
) -> None:
    client, store = web
    redirect = await consent(client)
    tokens = (
        await token_call(
            client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
        )
    ).json()
    realm = redirect["realmId"]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(f"/v3/company/{realm}/item/1", headers=headers)).status_code == 200
    store.clock.advance(3600)
    expired = await client.get(f"/v3/company/{realm}/item/1", headers=headers)
    assert expired.status_code == 401
    error = expired.json()["fault"]["error"][0]
    assert (error["code"], expired.json()["fault"]["type"]) == ("3200", "AUTHENTICATION")
    assert "www-authenticate" in expired.headers
    fresh = (
        await token_call(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    ).json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await client.get(f"/v3/company/{realm}/item/1", headers=headers)).status_code == 200


async def test_revoke_disconnects(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = web
    redirect = await consent(client)
    tokens = (
        await token_call(
            client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
        )
    ).json()
    revoked = await client.post(
        "/v2/oauth2/tokens/revoke", json={"token": tokens["refresh_token"]}, auth=CLIENT
    )
    assert revoked.status_code == 200
    realm = redirect["realmId"]
    api = await client.get(
        f"/v3/company/{realm}/item/1", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert api.status_code == 401
    refresh = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_admin_revocation_as_user_disconnect(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = web
    realm = (await client.post("/admin/companies", json={})).json()["realm_id"]
    tokens = (await client.post(f"/admin/companies/{realm}/tokens")).json()
    result = await client.post(f"/admin/companies/{realm}/revoke")
    assert result.json() == {"revoked_grants": 1}
    api = await client.get(
        f"/v3/company/{realm}/item/1", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert api.status_code == 401
    refresh = await client.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("emulator-client", "emulator-secret"),
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_client_checks(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = web
    redirect = await consent(client)
    other = await client.post(
        "/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": redirect["code"],
            "redirect_uri": REDIRECT,
        },
        auth=("someone-else", "x"),
    )
    assert other.json()["error"] == "invalid_grant"
    await client.post("/admin/clients", json={"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    wrong_secret = await client.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(CLIENT[0], "wrong"),
    )
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    unknown = await client.get(
        "/connect/oauth2", params={"client_id": "nobody", "redirect_uri": REDIRECT}
    )
    assert unknown.status_code == 400
    assert store.tokens.known_client(CLIENT[0])


async def test_discovery_points_at_the_emulator(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = web
    for path in ("/.well-known/openid_sandbox_configuration", "/.well-known/openid_configuration/"):
        document = (await client.get(path)).json()
        assert document["token_endpoint"] == "http://emu.test/oauth2/v1/tokens/bearer"
        assert document["authorization_endpoint"] == "http://emu.test/connect/oauth2"
        assert document["revocation_endpoint"] == "http://emu.test/v2/oauth2/tokens/revoke"
        assert document["userinfo_endpoint"].endswith("/v1/openid_connect/userinfo")
        assert {"jwks_uri", "issuer"} <= set(document)


async def test_userinfo_and_wrong_realm(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = web
    first = (await client.post("/admin/companies", json={})).json()["realm_id"]
    second = (await client.post("/admin/companies", json={})).json()["realm_id"]
    tokens = (await client.post(f"/admin/companies/{first}/tokens")).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = await client.get("/v1/openid_connect/userinfo", headers=headers)
    assert info.status_code == 200
    assert "sub" in info.json()
    foreign = await client.get(f"/v3/company/{second}/item/1", headers=headers)
    assert foreign.status_code == 403
    assert foreign.json()["Fault"]["Error"][0]["code"] == "3100"


async def test_a_lost_refresh_answer_still_rotates(web: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = web
    redirect = await consent(client)
    tokens = (
        await token_call(
            client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
        )
    ).json()
    armed = await client.post("/admin/oauth/lose-refresh-replies", json={"count": 1})
    assert armed.json() == {"lose_refresh_replies": 1}
    store.clock.advance(3600)
    lost = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    # What a client sees when the gateway in front of the token service gives up: nginx's
    # HTML 504 page, not an OAuth error body.
    assert lost.status_code == 504
    assert lost.headers["content-type"].startswith("text/html")
    assert "504 Gateway Time-out" in lost.text
    # The grant rotated behind the lost answer: the old refresh token is dead now.
    stale = await token_call(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert (stale.status_code, stale.json()["error"]) == (400, "invalid_grant")


async def test_token_answers_carry_intuit_tid_as_intuit_sends_it(
    web: tuple[httpx.AsyncClient, Store],
) -> None:
    # Intuit's token endpoint spells it `intuit_tid` (oauth-jsclient's recorded mocks), unlike
    # the Accounting API's `Intuit-Tid`.
    client, _ = web
    redirect = await consent(client)
    issued = await token_call(
        client, grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT
    )
    refused = await token_call(client, grant_type="refresh_token", refresh_token="unknown")
    for answer in (issued, refused):
        names = [name.lower() for name, _ in answer.headers.raw]
        assert b"intuit_tid" in names
        assert b"intuit-tid" not in names
    assert (issued.status_code, refused.status_code) == (200, 400)
