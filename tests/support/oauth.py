"""What a person does on Intuit's pages during the OAuth connect flow, against the emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

# Where the API under test finds Intuit's OAuth and Accounting endpoints: the `emulator`.
EMULATOR = "http://emulator.test"


async def consent(
    browser: httpx.AsyncClient, url: str, action: str = "approve", realm: str = "new"
) -> str:
    """What a person does on Intuit's page; returns the callback path and query."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert (await browser.get(url)).status_code == 200
    decision = await browser.post(
        "/connect/oauth2/decision",
        data={**query, "realm_id": realm, "company_name": "Acme Books", "action": action},
    )
    location = urlsplit(decision.headers["location"])
    assert location.path == "/connections/callback"
    return f"{location.path}?{location.query}"


async def start_and_consent(
    api: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    admin: dict[str, str],
    action: str = "approve",
    realm: str = "new",
) -> tuple[dict[str, Any], str]:
    """An operator starts a connection (POST /connections) and the person decides on Intuit's
    page; returns the start's answer and the callback path and query, not yet followed."""
    started = await api.post("/connections", headers=admin)
    assert started.status_code == 201, started.text
    body: dict[str, Any] = started.json()
    return body, await consent(browser, body["authorization_url"], action, realm)
