"""The ops console in headless Chromium, against `python -m app run`: log in with an admin
key, connect a company through the emulator's consent page, see its events, retry a dead
one after fixing its cause in QBO, log out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.browser import Service
from tests.support.factories import customer_event, invoice_event, item_event

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

COMPANY = "Lantern Street Bakery"


def wait_for(check: Callable[[], Any], what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(service: Service, auth: dict[str, str], realm_id: str) -> dict[str, str]:
    answer = httpx.get(
        f"{service.api}/events", params={"realm_id": realm_id}, headers=auth, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return {e["event_id"]: e["status"] for e in answer.json()["items"]}


def post(service: Service, auth: dict[str, str], body: dict[str, Any]) -> None:
    answer = httpx.post(f"{service.api}/events", json=body, headers=auth, timeout=10)
    assert answer.status_code == 202, answer.text


def log_in(page: Page, service: Service, key: str) -> None:
    page.goto(f"{service.api}/ops")
    assert page.url == f"{service.api}/ops/login"
    page.fill("#api_key", key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{service.api}/ops")


# `app` only so that the shared clean-up empties the tables this test fills.
@pytest.mark.browser
@pytest.mark.usefixtures("app")
def test_ops_console_in_a_browser(service: Service, browser: Browser) -> None:
    admin = service.headers["Authorization"].removeprefix("Bearer ")
    writer = {"Authorization": f"Bearer {service.key('billing', 'events:write,events:read')}"}
    page = browser.new_page()
    page.set_default_timeout(15_000)

    # A key without connections:admin is refused; the admin key gets in.
    page.goto(f"{service.api}/ops/login")
    page.fill("#api_key", writer["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Log in").click()
    assert "lacks the scope connections:admin" in page.inner_text("[role=alert]")
    log_in(page, service, admin)
    assert "No company is connected yet." in page.inner_text("main")

    # Connect: the console sends the browser to the consent page and Intuit sends it back.
    page.get_by_role("button", name="Connect a company").click()
    page.wait_for_url(f"{service.emulator}/connect/oauth2?**")
    page.check("input[name='realm_id'][value='new']")
    page.fill("input[name='company_name']", COMPANY)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{service.api}/connections/callback?**")
    assert f"Connected to {COMPANY}." in page.inner_text("body")
    realm_id = parse_qs(urlsplit(page.url).query)["realmId"][0]

    # Events from a caller: the customer and items sync; the invoice names an item that the
    # accountant made inactive in QBO, so QBO refuses it and it goes dead.
    for body in (customer_event("c1"), item_event("item-1"), item_event("item-2")):
        post(service, writer, {**body, "realm_id": realm_id})
    wait_for(
        lambda: set(statuses(service, writer, realm_id).values()) == {"synced"}, "records synced"
    )
    items = httpx.get(f"{service.emulator}/admin/companies/{realm_id}/items", timeout=10).json()
    item = next(i for i in items if i["Name"] == "Consulting item-1")
    httpx.post(
        f"{service.emulator}/admin/companies/{realm_id}/items/{item['Id']}/deactivate", timeout=10
    ).raise_for_status()
    invoice = {**invoice_event("inv-1", customer="c1", event_id="inv-1-v1"), "realm_id": realm_id}
    post(service, writer, invoice)
    wait_for(lambda: statuses(service, writer, realm_id).get("inv-1-v1") == "dead", "dead invoice")

    page.goto(f"{service.api}/ops")
    row = page.locator(f"tr[data-realm='{realm_id}']")
    assert COMPANY in row.inner_text()
    assert "DEGRADED" in row.inner_text().upper()
    assert "1 dead events need attention" in row.inner_text()
    dead_row = page.locator("#dead tbody tr")
    assert dead_row.count() == 1
    assert "610" in dead_row.inner_text()

    # Its events, on the company's page.
    page.get_by_role("link", name=COMPANY).click()
    page.wait_for_url(f"{service.api}/ops/realms/{realm_id}")
    events = page.locator("#events tbody tr")
    assert events.count() == 4
    assert page.locator("#events tr[data-status='synced']").count() == 3

    # The item is made active again in QBO; Retry sends the invoice back and it syncs.
    httpx.patch(
        f"{service.emulator}/admin/companies/{realm_id}/items/{item['Id']}",
        json={"Active": True},
        timeout=10,
    ).raise_for_status()
    page.locator("#events tr[data-status='dead']").get_by_role("button", name="Retry").click()
    page.wait_for_url(f"{service.api}/ops/realms/{realm_id}?notice=retried")
    assert "The event was sent back to the queue." in page.inner_text("[role=status]")
    wait_for(lambda: statuses(service, writer, realm_id).get("inv-1-v1") == "synced", "retry")
    page.reload()
    assert page.locator("#events tr[data-status='synced']").count() == 4
    page.goto(f"{service.api}/ops")
    assert page.locator("#dead tbody tr").count() == 0

    # Log out: back to the login page, and the console is closed to this browser.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{service.api}/ops/login?notice=logged-out")
    assert "You are logged out." in page.inner_text("[role=status]")
    page.goto(f"{service.api}/ops")
    assert page.url == f"{service.api}/ops/login"
