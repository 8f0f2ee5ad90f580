"""The ops flow in a real browser: `POST /connections`, approve on the emulator's consent page
in headless Chromium, land on "Connected to ...", then see the company active in the API.

The service runs as `python -m app run` (API, worker and emulator as real processes) against
the test PostgreSQL and Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.browser import Service

if TYPE_CHECKING:
    from playwright.sync_api import Browser

COMPANY = "Harbor & Pine Supply"


# `app` only so that the shared clean-up empties the tables this test fills.
@pytest.mark.browser
@pytest.mark.usefixtures("app")
def test_ops_connect_a_company_in_a_browser(service: Service, browser: Browser) -> None:
    started = httpx.post(f"{service.api}/connections", headers=service.headers, timeout=10)
    assert started.status_code == 201, started.text
    authorization_url = started.json()["authorization_url"]
    assert authorization_url.startswith(f"{service.emulator}/connect/oauth2?")

    page = browser.new_page()
    page.set_default_timeout(15_000)
    consent = page.goto(authorization_url)
    assert consent is not None
    assert consent.status == 200
    page.check("input[name='realm_id'][value='new']")
    page.fill("input[name='company_name']", COMPANY)
    with page.expect_response(lambda r: "/connections/callback" in r.url) as landed:
        page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()

    assert landed.value.status == 200, page.content()
    assert page.url.startswith(f"{service.api}/connections/callback?")
    assert f"Connected to {COMPANY}." in page.inner_text("body")
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == [started.json()["state"]]
    realm_id = query["realmId"][0]

    listed = httpx.get(f"{service.api}/connections", headers=service.headers, timeout=10)
    assert listed.status_code == 200, listed.text
    [connection] = [c for c in listed.json() if c["realm_id"] == realm_id]
    assert connection["company_name"] == COMPANY
    assert connection["status"] == "active"
