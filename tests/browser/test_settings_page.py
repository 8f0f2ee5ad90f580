"""A company's settings page in headless Chromium, against `python -m app run`: connect a
company, open its settings from its page, pick an income account and a payment method
mapping, save, and see them as the company's own values (and in the API); then an item
and a payment synced by the running worker carry the chosen ids in the emulator."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.browser import Service
from tests.support.factories import customer_event, invoice_event, item_event, payment_event

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

COMPANY = "Harbour Lights Cafe"


def log_in(page: Page, service: Service, key: str) -> None:
    page.goto(f"{service.api}/ops")
    page.fill("#api_key", key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{service.api}/ops")


def connect(page: Page, service: Service) -> str:
    page.get_by_role("button", name="Connect a company").click()
    page.wait_for_url(f"{service.emulator}/connect/oauth2?**")
    page.check("input[name='realm_id'][value='new']")
    page.fill("input[name='company_name']", COMPANY)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{service.api}/connections/callback?**")
    return parse_qs(urlsplit(page.url).query)["realmId"][0]


def option_starting(page: Page, select: str, text: str) -> str:
    labels = page.locator(f"{select} option").all_inner_texts()
    return next(label for label in labels if label.startswith(text))


# `app` only so that the shared clean-up empties the tables this test fills.
@pytest.mark.browser
@pytest.mark.usefixtures("app")
def test_settings_page_in_a_browser(service: Service, browser: Browser) -> None:
    admin = service.headers["Authorization"].removeprefix("Bearer ")
    page = browser.new_page()
    page.set_default_timeout(15_000)
    log_in(page, service, admin)
    realm_id = connect(page, service)

    page.goto(f"{service.api}/ops/realms/{realm_id}")
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url(f"{service.api}/ops/realms/{realm_id}/settings")
    income_row = page.locator("tr[data-setting='item_income_account_id']")
    assert "default: none" in income_row.locator(".source").inner_text()

    income = option_starting(page, "#item_income_account_id", "Sales of Product Income")
    page.select_option("#item_income_account_id", label=income)
    page.fill("#method_name_0", "card")
    method = option_starting(page, "#method_id_0", "Visa")
    page.select_option("#method_id_0", label=method)
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url(f"{service.api}/ops/realms/{realm_id}/settings?notice=settings-saved")
    assert "The settings were saved" in page.inner_text("[role=status]")

    source = page.locator("tr[data-setting='item_income_account_id'] .source").inner_text()
    assert source.startswith("company")
    assert income in source
    assert page.input_value("#item_income_account_id") == income.rsplit("(", 1)[1].rstrip(")")
    methods = page.locator("tr[data-setting='payment_methods'] .source").inner_text()
    assert methods.startswith("company")
    assert "card → Visa" in methods
    assert page.input_value("#method_name_0") == "card"
    history = page.locator("#history tbody tr")
    assert history.count() == 2
    assert "ops" in history.first.inner_text()

    settings = httpx.get(
        f"{service.api}/connections/{realm_id}/settings", headers=service.headers, timeout=10
    ).json()
    assert settings["item_income_account_id"]["source"] == "company"
    assert settings["payment_methods"]["source"] == "company"
    assert method.endswith(f"({settings['payment_methods']['value']['card']})")

    # Synced after the change, an item and a payment carry the chosen ids in QBO.
    writer = {"Authorization": f"Bearer {service.key('billing', 'events:write,events:read')}"}
    events = [
        customer_event("cust-1", event_id="c-1"),
        item_event("item-1", event_id="i-1"),
        item_event("item-2", event_id="i-2"),
        invoice_event("inv-1", event_id="v-1"),
        payment_event("pay-1", event_id="p-1", data={"method": "card"}),
    ]
    for body in events:
        body["realm_id"] = realm_id
        answer = httpx.post(f"{service.api}/events", json=body, headers=writer, timeout=10)
        assert answer.status_code == 202, answer.text
    chosen_income = settings["item_income_account_id"]["value"]
    chosen_method = settings["payment_methods"]["value"]["card"]
    payments = wait_for_records(service, realm_id, "payments")
    listed = httpx.get(
        f"{service.api}/events", params={"realm_id": realm_id}, headers=writer, timeout=10
    ).json()
    assert payments, json.dumps(listed["items"])
    items = [r for r in wait_for_records(service, realm_id, "items") if r["Name"] != "Services"]
    assert {r["IncomeAccountRef"]["value"] for r in items} == {chosen_income}
    assert payments[0]["PaymentMethodRef"]["value"] == chosen_method


def wait_for_records(service: Service, realm_id: str, collection: str) -> list[dict[str, Any]]:
    """The emulator's records of a collection once the worker has written one (60 s)."""
    deadline = time.monotonic() + 60
    while True:
        rows: list[dict[str, Any]] = httpx.get(
            f"{service.emulator}/admin/companies/{realm_id}/{collection}", timeout=10
        ).json()
        if any(r.get("Name") != "Services" for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)
