"""Per-company settings over the API: defaults and own values, the checks against the
company's records and country, history, concurrency, scopes, reconnecting."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.connections.models import CompanySettingsRow, ReferenceList, SettingsChange
from app.connections.settings import SETTING_NAMES
from tests.fixtures.company_settings import Companies
from tests.fixtures.keys import KeyFactory
from tests.support.helpers import asgi_client, started_app

# The emulator's seeded chart of accounts (app/emulator/seed.py), by id; its payment
# methods, classes and departments are those of app/emulator/seed_lists.py.
SERVICES, PRODUCT_SALES, COGS, UNDEPOSITED, CHECKING = "1", "2", "3", "4", "7"
DISCOUNTS_GIVEN = "13"

OWN = {
    "item_income_account_id": PRODUCT_SALES,
    "item_expense_account_id": COGS,
    "deposit_account_id": CHECKING,
    "discount_account_id": DISCOUNTS_GIVEN,
    "payment_methods": {"card": "3", "cash": "1"},
    "class_id": "1",
    "department_id": "1",
    "drift_policy_item": "accept",
    "display_name_template": "{display_name} [{external_id}]",
}


async def stored_rows(companies: Companies) -> tuple[int, int]:
    """(company_settings rows, company_settings_changes rows)."""
    async with companies.factory() as session:
        own = await session.scalar(select(func.count()).select_from(CompanySettingsRow))
        changes = await session.scalar(select(func.count()).select_from(SettingsChange))
    return own or 0, changes or 0


async def test_defaults_show_the_environment_and_the_company_preference(
    companies: Companies,
) -> None:
    realm = await companies.connect(custom_txn_numbers=True)
    body = await companies.get(realm)
    assert set(SETTING_NAMES) <= set(body)
    assert all(body[name]["source"] == "default" for name in SETTING_NAMES)
    assert body["item_income_account_id"]["value"] is None
    assert body["display_name_template"]["value"] == "{display_name} ({external_id})"
    assert body["payment_methods"]["value"] == {}
    assert body["doc_number_ours"] == {"value": True, "source": "default"}
    assert (body["version"], body["updated_at"], body["updated_by"]) == (0, None, None)

    other = await companies.connect()
    assert (await companies.get(other))["doc_number_ours"]["value"] is False


async def test_unknown_realm_is_404(companies: Companies) -> None:
    for path in ("settings", "settings/history", "reference/accounts"):
        answer = await companies.client.get(f"/connections/424242/{path}", headers=companies.admin)
        assert answer.status_code == 404, (path, answer.text)
    answer = await companies.put("424242", {})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_own_values_are_stored_shown_and_recorded(companies: Companies) -> None:
    realm = await companies.connect()
    answer = await companies.put(realm, OWN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for name, value in OWN.items():
        assert body[name] == {"value": value, "source": "company"}, name
    assert body["tax_code_id"]["source"] == "default"
    assert body["version"] == 1
    assert body["updated_by"] == "ops"
    assert await companies.get(realm) == body

    history = await companies.history(realm)
    assert {c["name"] for c in history["items"]} == set(OWN)
    assert all(c["changed_by"] == "ops" and c["old"] is None for c in history["items"])
    assert {c["name"]: c["new"] for c in history["items"]} == OWN

    # The same set again changes nothing and records nothing.
    again = await companies.put(realm, OWN)
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert len((await companies.history(realm))["items"]) == len(OWN)

    # An empty set is every default again.
    cleared = (await companies.put(realm, {})).json()
    assert all(cleared[name]["source"] == "default" for name in SETTING_NAMES)
    assert cleared["version"] == 2
    newest = (await companies.history(realm, limit=len(OWN)))["items"]
    assert {c["name"]: (c["old"], c["new"]) for c in newest} == {
        name: (value, None) for name, value in OWN.items()
    }


async def test_history_pages_newest_first(companies: Companies, make_key: KeyFactory) -> None:
    realm = await companies.connect()
    other = {"Authorization": f"Bearer {await make_key('finance-admin', ['connections:admin'])}"}
    for policy, headers in (("restore", None), ("accept", other), ("report", None)):
        answer = await companies.put(realm, {"drift_policy_invoice": policy}, headers)
        assert answer.status_code == 200, answer.text
    first = await companies.history(realm, limit=2)
    assert [(c["old"], c["new"], c["changed_by"]) for c in first["items"]] == [
        ("accept", "report", "ops"),
        ("restore", "accept", "finance-admin"),
    ]
    rest = await companies.history(realm, limit=2, cursor=first["next_cursor"])
    assert [(c["old"], c["new"]) for c in rest["items"]] == [(None, "restore")]
    assert rest["next_cursor"] is None
    bad = await companies.client.get(
        f"/connections/{realm}/settings/history", params={"cursor": "nope"}, headers=companies.admin
    )
    assert bad.status_code == 422


async def test_an_environment_default_shows_until_the_company_sets_its_own(
    companies: Companies,
) -> None:
    realm = await companies.connect()
    configured = companies.settings.model_copy(
        update={"item_income_account_id": SERVICES, "drift_policy_customer": "restore"}
    )
    async with (
        started_app(configured, companies.qbo) as application,
        asgi_client(application) as client,
    ):
        path = f"/connections/{realm}/settings"
        body = (await client.get(path, headers=companies.admin)).json()
        assert body["item_income_account_id"] == {"value": SERVICES, "source": "default"}
        assert body["drift_policy_customer"] == {"value": "restore", "source": "default"}
        own = {"item_income_account_id": PRODUCT_SALES}
        answer = await client.put(path, json=own, headers=companies.admin)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["item_income_account_id"] == {"value": PRODUCT_SALES, "source": "company"}
        assert body["drift_policy_customer"] == {"value": "restore", "source": "default"}


def _deactivate(companies: Companies, realm: str, collection: str, qbo_id: str) -> Any:
    return companies.books.client.post(f"/admin/companies/{realm}/{collection}/{qbo_id}/deactivate")


REFUSALS: list[tuple[str, str, dict[str, Any], tuple[str, ...], str]] = [
    (
        "unknown income account",
        "US",
        {"item_income_account_id": "99"},
        ("item_income_account_id",),
        "no Income account 99 in this company; the company's active Income accounts:"
        " 1 Services, 2 Sales of Product Income, 8 Consulting Income, 9 Product Sales,"
        " 13 Discounts given",
    ),
    (
        "income account of the wrong type",
        "US",
        {"item_income_account_id": CHECKING},
        ("item_income_account_id",),
        "is of type Bank, not an Income account",
    ),
    (
        "expense account of the wrong type",
        "US",
        {"item_expense_account_id": SERVICES},
        ("item_expense_account_id",),
        "3 Cost of Goods Sold",
    ),
    (
        "deposit account of the wrong type",
        "US",
        {"deposit_account_id": SERVICES},
        ("deposit_account_id",),
        "4 Undeposited Funds",
    ),
    (
        "discount account of the wrong type",
        "US",
        {"discount_account_id": COGS},
        ("discount_account_id",),
        "not an Income account",
    ),
    (
        "unknown payment method",
        "US",
        {"payment_methods": {"card": "3", "ach": "9"}},
        ("payment_methods", "ach"),
        "no payment method 9 in this company; the company's active"
        " payment methods: 1 Cash, 2 Check, 3 Visa, 4 MasterCard, 5 American Express",
    ),
    (
        "inactive payment method",
        "US",
        {"payment_methods": {"barter": "6"}},
        ("payment_methods", "barter"),
        "payment method 6 (Barter) is inactive",
    ),
    (
        "payment method names differing only in case",
        "US",
        {"payment_methods": {"card": "3", "Card": "1"}},
        ("payment_methods", "Card"),
        "the same method name as 'card'",
    ),
    ("inactive class", "US", {"class_id": "3"}, ("class_id",), "class 3 (Legacy) is inactive"),
    (
        "unknown department",
        "US",
        {"department_id": "8"},
        ("department_id",),
        "active departments: 1 North, 2 South",
    ),
    (
        "unknown shipping item",
        "US",
        {"shipping_item_id": "99"},
        ("shipping_item_id",),
        "no item 99",
    ),
    (
        "tax calculation in the US",
        "US",
        {"global_tax_calculation": "TaxInclusive"},
        ("global_tax_calculation",),
        "in the US",
    ),
    (
        "taxable default outside the US",
        "GB",
        {"default_taxable": True},
        ("default_taxable",),
        "outside the US",
    ),
    (
        "unknown tax code",
        "GB",
        {"tax_code_id": "99"},
        ("tax_code_id",),
        "active tax codes: 1 20.0% S, 2 5.0% R, 3 0.0% Z, 4 Exempt",
    ),
]


@pytest.mark.parametrize(
    ("country", "body", "loc", "says"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
async def test_refusals_name_the_field_and_store_nothing(
    companies: Companies, country: str, body: dict[str, Any], loc: tuple[str, ...], says: str
) -> None:
    realm = await companies.connect(country)
    answer = await companies.put(realm, {"drift_policy_item": "accept", **body})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    errors = answer.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", *loc]]
    assert errors[0]["pointer"] == "/" + "/".join(loc)
    assert says in errors[0]["detail"]
    assert (await companies.get(realm))["version"] == 0
    assert await stored_rows(companies) == (0, 0)


async def test_a_us_company_names_its_invoices_tax_code_unless_ast_chooses_it(
    companies: Companies,
) -> None:
    plain = await companies.connect("US")
    answer = await companies.put(plain, {"tax_code_id": "1"})
    assert answer.status_code == 200, answer.text
    assert (await companies.get(plain))["tax_code_id"] == {"value": "1", "source": "company"}
    ast = await companies.connect("US", automated_sales_tax=True)
    answer = await companies.put(ast, {"tax_code_id": "1"})
    assert answer.status_code == 422, answer.text
    assert "automated sales tax" in answer.json()["errors"][0]["detail"]
    assert (await companies.get(ast))["version"] == 0


async def test_inactive_records_are_refused(companies: Companies) -> None:
    realm = await companies.connect("GB")
    assert (await _deactivate(companies, realm, "accounts", PRODUCT_SALES)).status_code == 200
    assert (await _deactivate(companies, realm, "taxcodes", "2")).status_code == 200
    answer = await companies.put(
        realm, {"item_income_account_id": PRODUCT_SALES, "tax_code_id": "2"}
    )
    assert answer.status_code == 422, answer.text
    details = {e["loc"][-1]: e["detail"] for e in answer.json()["errors"]}
    assert (
        "Income account 2 (Sales of Product Income) is inactive"
        in details["item_income_account_id"]
    )
    assert "accounts: 1 Services" in details["item_income_account_id"]
    assert "tax code 2 (5.0% R) is inactive" in details["tax_code_id"]
    assert await stored_rows(companies) == (0, 0)
    # Accepted when active and right.
    answer = await companies.put(realm, {"item_income_account_id": SERVICES, "tax_code_id": "1"})
    assert answer.status_code == 200, answer.text


async def test_pydantic_errors_are_422_problems(companies: Companies) -> None:
    realm = await companies.connect()
    for body in (
        {"item_income_account_id": "abc"},
        {"display_name_template": "no id here"},
        {"drift_policy_item": "ignore"},
        {"unknown_setting": 1},
    ):
        answer = await companies.put(realm, body)
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["pointer"].startswith("/"), answer.text
    assert await stored_rows(companies) == (0, 0)


async def test_an_account_made_a_moment_ago_is_found(companies: Companies) -> None:
    realm = await companies.connect()
    assert (await companies.put(realm, {"item_income_account_id": SERVICES})).status_code == 200
    assert companies.qbo.queries["Account"] == 1
    consulting = companies.add_account(realm, "Consulting", "Income", "ServiceFeeIncome", "Revenue")
    # A list read a moment ago is trusted: the id is not there (yet).
    refused = await companies.put(realm, {"item_income_account_id": consulting})
    assert refused.status_code == 422
    assert companies.qbo.queries["Account"] == 1
    # Once it is a few seconds old, a missing id makes it read again, once.
    async with companies.factory() as session:
        await session.execute(
            update(ReferenceList).values(
                fetched_at=ReferenceList.fetched_at - timedelta(seconds=10)
            )
        )
        await session.commit()
    answer = await companies.put(realm, {"item_income_account_id": consulting})
    assert answer.status_code == 200, answer.text
    assert companies.qbo.queries["Account"] == 2


async def test_concurrent_changes_never_fail_and_keep_a_consistent_history(
    companies: Companies,
) -> None:
    realm = await companies.connect()
    policies = ["report", "restore", "accept"]
    bodies = [
        {
            "drift_policy_customer": policies[i % 3],
            "item_income_account_id": [SERVICES, PRODUCT_SALES][i % 2],
            **({"deposit_account_id": SERVICES} if i == 7 else {}),  # refused: wrong type
        }
        for i in range(10)
    ]
    answers = await asyncio.gather(*(companies.put(realm, b) for b in bodies))
    codes = [a.status_code for a in answers]
    assert all(code in (200, 422) for code in codes), [a.text for a in answers]
    assert codes[7] == 422
    assert codes.count(200) == 9
    final = await companies.get(realm)
    async with companies.factory() as session:
        changes = list(
            (
                await session.scalars(
                    select(SettingsChange).order_by(SettingsChange.changed_at, SettingsChange.id)
                )
            ).all()
        )
    assert final["version"] == len({c.changed_at for c in changes})
    for name in ("drift_policy_customer", "item_income_account_id"):
        chain = [c for c in changes if c.name == name]
        assert chain[0].old_value is None
        for before, after in itertools.pairwise(chain):
            assert after.old_value == before.new_value, name
        assert chain[-1].new_value == final[name]["value"]


async def test_a_spent_budget_is_503_with_retry_after(companies: Companies) -> None:
    realm = await companies.connect()
    await companies.app.state.budget.pause(realm, 120)
    answer = await companies.put(realm, {"item_income_account_id": SERVICES})
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 60
    assert await stored_rows(companies) == (0, 0)
    # A change that names no record of the company needs no QBO read.
    assert (await companies.put(realm, {"drift_policy_item": "accept"})).status_code == 200


async def test_a_company_that_cannot_be_read_is_409_for_reference_changes(
    companies: Companies,
) -> None:
    realm = await companies.connect()
    assert (await companies.put(realm, {"class_id": "1"})).status_code == 200
    revoked = await companies.client.delete(f"/connections/{realm}", headers=companies.admin)
    assert revoked.status_code == 200, revoked.text
    answer = await companies.put(realm, {"class_id": "1", "item_income_account_id": SERVICES})
    assert answer.status_code == 409, answer.text
    assert "reconnect" in answer.json()["detail"]
    # Keeping the same records while changing a policy is fine.
    kept = await companies.put(realm, {"class_id": "1", "drift_policy_payment": "restore"})
    assert kept.status_code == 200, kept.text

    # Reconnecting keeps the company's settings.
    await companies.reconnect(realm)
    body = await companies.get(realm)
    assert body["class_id"] == {"value": "1", "source": "company"}
    assert body["drift_policy_payment"] == {"value": "restore", "source": "company"}
    assert body["version"] == 2


async def test_a_company_whose_token_qbo_refuses_is_409(companies: Companies) -> None:
    realm = await companies.connect()
    await companies.books.client.post(f"/admin/companies/{realm}/revoke")
    answer = await companies.put(realm, {"item_income_account_id": SERVICES})
    assert answer.status_code == 409, answer.text
    assert "reconnect" in answer.json()["detail"]
    assert await stored_rows(companies) == (0, 0)


async def test_other_scopes_are_403(companies: Companies, make_key: KeyFactory) -> None:
    realm = await companies.connect()
    writer = {"Authorization": f"Bearer {await make_key('shop', ['events:write'])}"}
    for method, path in (
        ("GET", "settings"),
        ("PUT", "settings"),
        ("GET", "settings/history"),
        ("GET", "reference/accounts"),
    ):
        answer = await companies.client.request(
            method, f"/connections/{realm}/{path}", json={}, headers=writer
        )
        assert answer.status_code == 403, (method, path, answer.text)
    assert (await companies.client.get(f"/connections/{realm}/settings")).status_code == 401
    assert await stored_rows(companies) == (0, 0)


async def test_the_shipping_item_must_be_an_active_item(companies: Companies) -> None:
    realm = await companies.connect()
    # The emulator's seeded item "Services" is item 1.
    answer = await companies.put(realm, {"shipping_item_id": "1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["shipping_item_id"] == {"value": "1", "source": "company"}
    deactivated = await companies.books.client.post(f"/admin/companies/{realm}/items/1/deactivate")
    assert deactivated.status_code == 200, deactivated.text
    await companies.put(realm, {})
    refused = await companies.put(realm, {"shipping_item_id": "1"})
    assert refused.status_code == 422, refused.text
    assert "item 1 (Services) is inactive" in refused.json()["errors"][0]["detail"]
