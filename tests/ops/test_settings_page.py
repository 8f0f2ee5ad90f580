"""The console's settings page of a company: dropdowns from its reference lists, saving
(CSRF-protected, the API's checks), refusals beside their fields, and the history."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from app.connections.models import SettingsChange
from tests.fixtures.company_settings import Companies
from tests.fixtures.ops import csrf_of, log_in


@pytest.fixture
async def console_client(companies: Companies, admin_key: str) -> httpx.AsyncClient:
    answer = await log_in(companies.client, admin_key)
    assert answer.status_code == 303, answer.text
    return companies.client


def options_of(page: str, select_id: str) -> dict[str, str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select {select_id}"
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found.group(1)))


def row_of(page: str, name: str) -> str:
    """The table row of one setting (up to the next setting's row)."""
    marker = f'<tr data-setting="{name}">'
    assert marker in page, f"no row {name}"
    return page.split(marker, 1)[1].split("<tr data-setting=", 1)[0]


async def changes(companies: Companies) -> int:
    async with companies.factory() as session:
        return await session.scalar(select(func.count()).select_from(SettingsChange)) or 0


async def test_the_page_offers_the_company_records_of_the_right_type(
    companies: Companies, console_client: httpx.AsyncClient
) -> None:
    realm = await companies.connect()
    realm_page = await console_client.get(f"/ops/realms/{realm}")
    assert f'href="/ops/realms/{realm}/settings"' in realm_page.text
    page = await console_client.get(f"/ops/realms/{realm}/settings")
    assert page.status_code == 200, page.text
    income = options_of(page.text, "item_income_account_id")
    # Active Income accounts only (app/emulator/seed.py: "Old Income", 10, is inactive).
    assert income == {
        "": "Default: none",
        "1": "Services (1)",
        "2": "Sales of Product Income (2)",
        "8": "Consulting Income (8)",
        "9": "Product Sales (9)",
        "13": "Discounts given (13)",
    }
    assert set(options_of(page.text, "deposit_account_id")) == {"", "4", "5", "7", "14"}
    methods = options_of(page.text, "method_id_0")
    assert set(methods) == {"", "1", "2", "3", "4", "5"}  # Barter (6) is inactive
    assert set(options_of(page.text, "class_id")) == {"", "1", "2"}
    assert 'id="tax_code_id"' not in page.text  # a US company
    assert 'id="default_taxable"' in page.text
    assert "default: {display_name} ({external_id})" in row_of(page.text, "display_name_template")
    assert "No changes yet" in page.text


async def test_saving_stores_company_values_and_shows_them(
    companies: Companies, console_client: httpx.AsyncClient
) -> None:
    realm = await companies.connect("GB")
    page = await console_client.get(f"/ops/realms/{realm}/settings")
    assert set(options_of(page.text, "tax_code_id")) == {"", "1", "2", "3", "4"}
    saved = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={
            "csrf": csrf_of(page),
            "item_income_account_id": "2",
            "tax_code_id": "1",
            "global_tax_calculation": "TaxInclusive",
            "method_name_0": "card",
            "method_id_0": "3",
            "method_name_1": "",
            "method_id_1": "",
            "drift_policy_item": "accept",
            "doc_number_ours": "true",
        },
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/ops/realms/{realm}/settings?notice=settings-saved"
    body = await companies.get(realm)
    assert body["item_income_account_id"] == {"value": "2", "source": "company"}
    assert body["payment_methods"] == {"value": {"card": "3"}, "source": "company"}
    assert body["doc_number_ours"] == {"value": True, "source": "company"}
    assert body["updated_by"] == "ops"

    shown = await console_client.get(saved.headers["location"])
    assert "The settings were saved" in shown.text
    assert "<strong>company</strong>: Sales of Product Income (2)" in row_of(
        shown.text, "item_income_account_id"
    )
    assert "default: none" in row_of(shown.text, "class_id")
    assert "<strong>company</strong>: card → Visa (3)" in row_of(shown.text, "payment_methods")
    assert options_of(shown.text, "method_id_0")["3"] == "Visa (3)"
    assert 'value="card"' in shown.text
    history = shown.text.split('<table id="history">')[1]
    assert history.count("<td>ops</td>") == 6

    # The same form again saves nothing.
    again = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={
            "csrf": csrf_of(shown),
            "item_income_account_id": "2",
            "tax_code_id": "1",
            "global_tax_calculation": "TaxInclusive",
            "method_name_0": "card",
            "method_id_0": "3",
            "drift_policy_item": "accept",
            "doc_number_ours": "true",
        },
    )
    assert again.headers["location"].endswith("notice=settings-unchanged")
    assert await changes(companies) == 6


async def test_a_refusal_is_shown_beside_its_field_and_stores_nothing(
    companies: Companies, console_client: httpx.AsyncClient
) -> None:
    realm = await companies.connect()
    page = await console_client.get(f"/ops/realms/{realm}/settings")
    refused = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={
            "csrf": csrf_of(page),
            "item_income_account_id": "7",
            "method_name_0": "barter",
            "method_id_0": "6",
            "display_name_template": "no id here",
        },
    )
    assert refused.status_code == 422, refused.text
    assert "Nothing was saved" in refused.text
    assert "must contain {external_id}" in row_of(refused.text, "display_name_template")
    assert await changes(companies) == 0

    # Once the template is right, QBO's records are checked.
    refused = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={
            "csrf": csrf_of(page),
            "item_income_account_id": "7",
            "method_name_0": "barter",
            "method_id_0": "6",
        },
    )
    assert refused.status_code == 422, refused.text
    income = row_of(refused.text, "item_income_account_id")
    assert "account 7 (Checking) is of type Bank, not an Income account" in income
    assert "barter: payment method 6 (Barter) is inactive" in row_of(
        refused.text, "payment_methods"
    )
    # The refused values stay in the form.
    assert re.search(r'<option value="7" selected>', income)
    assert await changes(companies) == 0


async def test_a_form_without_the_session_token_is_refused(
    companies: Companies, console_client: httpx.AsyncClient
) -> None:
    realm = await companies.connect()
    for csrf in ("", "forged"):
        answer = await console_client.post(
            f"/ops/realms/{realm}/settings", data={"csrf": csrf, "drift_policy_item": "accept"}
        )
        assert answer.status_code == 403
        assert "Form refused" in answer.text
    page = await console_client.get(f"/ops/realms/{realm}/settings")
    other_site = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={"csrf": csrf_of(page), "drift_policy_item": "accept"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert await changes(companies) == 0


async def test_logged_out_visitors_go_to_the_login(companies: Companies) -> None:
    realm = await companies.connect()
    answer = await companies.client.get(f"/ops/realms/{realm}/settings")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ops/login"


async def test_a_disconnected_company_shows_its_last_lists(
    companies: Companies, console_client: httpx.AsyncClient
) -> None:
    realm = await companies.connect()
    await console_client.get(f"/ops/realms/{realm}/settings")
    revoked = await companies.client.delete(f"/connections/{realm}", headers=companies.admin)
    assert revoked.status_code == 200
    page = await console_client.get(f"/ops/realms/{realm}/settings")
    assert "reconnect it" in page.text
    assert "1" in options_of(page.text, "item_income_account_id")
    refused = await console_client.post(
        f"/ops/realms/{realm}/settings",
        data={"csrf": csrf_of(page), "item_income_account_id": "1"},
    )
    assert refused.status_code == 409
    assert "reconnect it" in refused.text
    assert await changes(companies) == 0
    missing = await console_client.get("/ops/realms/777/settings")
    assert missing.status_code == 404
