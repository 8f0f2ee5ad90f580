"""OAuth state and redirects. tests/connections/test_flow.py already shows a forged, a reused
and an expired state refused; here: a state from another start (or another installation),
the stored hash used as a state, a replayed callback (same code and state) and a code replayed
under another start's state, all changing nothing; and no redirect goes anywhere but the
configured places (the authorization URL's redirect_uri, the callback, the console's `back`)."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.connections.models import Connection, OAuthState
from app.connections.service import hash_state
from app.security import ApiKey, revoke_api_key
from tests.fixtures.keys import KeyFactory
from tests.fixtures.ops import csrf_of, log_in
from tests.support.helpers import asgi_client, started_app
from tests.support.oauth import EMULATOR, consent, start_and_consent

Factory = async_sessionmaker[AsyncSession]
REDIRECT_URI = "https://sync.example.com/connections/callback"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The API under test sends Intuit a configured public redirect URI."""
    return settings.model_copy(update={"emulator_url": EMULATOR, "qbo_redirect_uri": REDIRECT_URI})


async def connections(factory: Factory) -> list[tuple[str, bytes | None]]:
    async with factory() as session:
        rows = (await session.scalars(select(Connection))).all()
    return [(r.realm_id, r.access_token_enc) for r in rows]


def with_state(callback: str, state: str) -> str:
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return httpx.URL(parts.path, params={**query, "state": state}).raw_path.decode()


async def test_states_of_other_starts_and_replayed_callbacks_change_nothing(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    first = (await api_client.post("/connections", headers=admin)).json()
    second = (await api_client.post("/connections", headers=admin)).json()
    callback = await consent(emulator_client, first["authorization_url"])

    # A well-formed state this installation never issued, and the stored hash of a real one
    # (what a reader of the database would have): neither is a state.
    async with session_factory() as session:
        hashes = set((await session.scalars(select(OAuthState.state_hash))).all())
    assert hash_state(first["state"]) in hashes
    for state in (secrets.token_urlsafe(32), hash_state(first["state"]), "", first["state"][:-1]):
        refused = await api_client.get(with_state(callback, state))
        assert refused.status_code == 400, state
        assert await connections(session_factory) == []

    assert (await api_client.get(callback)).status_code == 200
    connected = await connections(session_factory)
    assert len(connected) == 1

    # The same code and state again: refused before Intuit is asked; the tokens stay.
    replay = await api_client.get(callback)
    assert replay.status_code == 400
    assert "already used" in replay.text
    # The used code under the other start's (still valid) state: Intuit refuses the code.
    swapped = await api_client.get(with_state(callback, second["state"]))
    assert swapped.status_code == 502
    assert await connections(session_factory) == connected
    # That state was spent by the attempt: it cannot be tried again with another code.
    assert (await api_client.get(with_state(callback, second["state"]))).status_code == 400


async def test_the_authorization_url_redirects_only_to_the_configured_uri(
    api_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for query in ("", "?redirect_uri=https://evil.example/cb", "?next=https://evil.example"):
        started = await api_client.post(f"/connections{query}", headers=admin)
        if started.status_code == 422:  # unknown parameters refused outright: also fine
            continue
        assert started.status_code == 201, started.text
        url = urlsplit(started.json()["authorization_url"])
        assert f"{url.scheme}://{url.netloc}" == EMULATOR
        assert parse_qs(url.query)["redirect_uri"] == [REDIRECT_URI]


@pytest.mark.parametrize(
    "query",
    [
        "next=https://evil.example",
        "redirect_uri=https://evil.example",
        "return_to=//evil.example",
        "error=<script>alert(1)</script>",
        "code=x&realmId=1&url=https://evil.example",
    ],
)
async def test_the_callback_never_redirects_nor_reflects_markup(
    api_client: httpx.AsyncClient, admin: dict[str, str], query: str
) -> None:
    state = (await api_client.post("/connections", headers=admin)).json()["state"]
    for with_valid_state in (False, True):
        full = f"/connections/callback?{query}" + (f"&state={state}" if with_valid_state else "")
        answer = await api_client.get(full)
        assert not 300 <= answer.status_code < 400
        assert "location" not in answer.headers
        assert "<script>" not in answer.text
        assert "evil.example" not in answer.text


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/ops",
        "//evil.example/ops",
        "/\\evil.example",
        "\\\\evil.example",
        "/ops//evil.example",
        "/ops/..//evil.example",
        "javascript:alert(1)//ops",
        "http:/ops",
        " //evil.example",
        "/ops\r\nLocation: https://evil.example",
        "/ops?x=https://evil.example",
        "/ops#@evil.example",
    ],
)
async def test_the_consoles_back_field_never_leaves_the_console(
    client: httpx.AsyncClient, make_key: KeyFactory, back: str
) -> None:
    """`back` comes from a form; a retry answers with a redirect to it, only within /ops."""
    assert (await log_in(client, await make_key("ops", ["connections:admin"]))).status_code == 303
    page = await client.get("/ops")
    answer = await client.post(
        f"/ops/events/{uuid.uuid4()}/retry", data={"csrf": csrf_of(page), "back": back}
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    target = urlsplit(location)
    assert (target.scheme, target.netloc) == ("", "")
    assert target.path.startswith("/ops")
    assert "//" not in target.path
    assert "\\" not in location
    assert "evil" not in location


class KeyRevokedDuringExchange(httpx.AsyncBaseTransport):
    """The emulator, but the key `name` is revoked while Intuit trades the code: the race
    between the callback's first check and storing the tokens. Records the paths called."""

    def __init__(self, emulator: FastAPI, factory: Factory, name: str) -> None:
        self.inner = httpx.ASGITransport(app=emulator)
        self.factory, self.name = factory, name
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith("/tokens/bearer"):
            async with self.factory.begin() as session:
                assert await revoke_api_key(session, self.name)
        return await self.inner.handle_async_request(request)


async def _state_row(factory: Factory, state: str) -> OAuthState:
    async with factory() as session:
        row = await session.scalar(
            select(OAuthState).where(OAuthState.state_hash == hash_state(state))
        )
    assert row is not None
    return row


async def test_a_flow_started_by_a_key_revoked_before_the_callback_connects_nothing(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    started, callback = await start_and_consent(api_client, emulator_client, admin)
    async with session_factory.begin() as session:
        assert await revoke_api_key(session, "ops")

    refused = await api_client.get(callback)

    assert refused.status_code == 403
    assert "Not connected" in refused.text
    assert "The API key that started this connection (ops) was revoked" in refused.text
    assert await connections(session_factory) == []
    assert (await _state_row(session_factory, started["state"])).used_at is not None
    assert "already used" in (await api_client.get(callback)).text


async def test_a_flow_started_by_a_key_that_lost_connections_admin_connects_nothing(
    api_client: httpx.AsyncClient,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    started, callback = await start_and_consent(api_client, emulator_client, admin)
    async with session_factory.begin() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.name == "ops").values(scopes=["events:read"])
        )

    refused = await api_client.get(callback)

    assert refused.status_code == 403
    assert "no longer holds connections:admin" in refused.text
    assert await connections(session_factory) == []
    assert (await _state_row(session_factory, started["state"])).used_at is not None


async def test_a_key_revoked_while_intuit_answers_connects_nothing_and_the_tokens_are_revoked(
    api_settings: Settings,
    emulator: FastAPI,
    emulator_client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: Factory,
) -> None:
    transport = KeyRevokedDuringExchange(emulator, session_factory, "ops")
    async with started_app(api_settings, transport) as app, asgi_client(app) as api_client:
        started = (await api_client.post("/connections", headers=admin)).json()
        refused = await api_client.get(await consent(emulator_client, started["authorization_url"]))

    assert refused.status_code == 403, refused.text
    assert "was revoked" in refused.text
    assert await connections(session_factory) == []
    # The tokens Intuit gave are not kept, and are revoked at Intuit.
    assert any(p.endswith("/tokens/revoke") for p in transport.paths), transport.paths
