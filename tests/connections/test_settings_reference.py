"""A company's reference lists over the API: every kind in its shape, inactive records
included, the cache (a hit asks QBO nothing; `refresh` does) and the `type` filter."""

from __future__ import annotations

from typing import Any

from tests.fixtures.company_settings import Companies


async def reference(companies: Companies, realm: str, kind: str, **params: Any) -> dict[str, Any]:
    answer = await companies.client.get(
        f"/connections/{realm}/reference/{kind}", params=params, headers=companies.admin
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_accounts_by_type_inactive_included_and_cached(companies: Companies) -> None:
    realm = await companies.connect()
    consulting = companies.add_account(
        realm, "Consulting", "Income", "ServiceFeeIncome", "Revenue", active=False
    )
    body = await reference(companies, realm, "accounts", type="Income")
    assert body["kind"] == "accounts"
    # The emulator's seeded Income accounts (app/emulator/seed.py), "Old Income" inactive.
    assert {r["id"]: (r["name"], r["active"]) for r in body["rows"]} == {
        "1": ("Services", True),
        "2": ("Sales of Product Income", True),
        "8": ("Consulting Income", True),
        "9": ("Product Sales", True),
        "10": ("Old Income", False),
        "13": ("Discounts given", True),
        consulting: ("Consulting", False),
    }
    services = next(r for r in body["rows"] if r["id"] == "1")
    assert services == {
        "id": "1",
        "name": "Services",
        "active": True,
        "type": "Income",
        "sub_type": "ServiceFeeIncome",
        "classification": "Revenue",
    }
    assert companies.qbo.queries["Account"] == 1

    # A cache hit asks QBO nothing, whatever the filter.
    every = await reference(companies, realm, "accounts")
    assert len(every["rows"]) == 15
    assert every["fetched_at"] == body["fetched_at"]
    assert companies.qbo.queries["Account"] == 1

    # `refresh` reads again, and sees what changed in QBO.
    banking = companies.add_account(realm, "Reserve", "Bank", "Savings", "Asset")
    fresh = await reference(companies, realm, "accounts", type="bank", refresh="true")
    assert {r["id"] for r in fresh["rows"]} == {"7", "14", banking}
    assert fresh["fetched_at"] > body["fetched_at"]
    assert companies.qbo.queries["Account"] == 2


async def test_the_cache_expires(companies: Companies) -> None:
    expiring = companies.settings.model_copy(update={"reference_cache_seconds": 0})
    companies.app.state.settings = expiring
    realm = await companies.connect()
    await reference(companies, realm, "classes")
    await reference(companies, realm, "classes")
    assert companies.qbo.queries["Class"] == 2


async def test_payment_methods_classes_departments_terms(companies: Companies) -> None:
    realm = await companies.connect()
    # As app/emulator/seed_lists.py seeds them.
    methods = (await reference(companies, realm, "payment_methods"))["rows"]
    assert {r["id"]: (r["name"], r["active"], r["type"]) for r in methods} == {
        "1": ("Cash", True, "NON_CREDIT_CARD"),
        "2": ("Check", True, "NON_CREDIT_CARD"),
        "3": ("Visa", True, "CREDIT_CARD"),
        "4": ("MasterCard", True, "CREDIT_CARD"),
        "5": ("American Express", True, "CREDIT_CARD"),
        "6": ("Barter", False, "NON_CREDIT_CARD"),
    }
    cards = (await reference(companies, realm, "payment_methods", type="CREDIT_CARD"))["rows"]
    assert sorted(r["id"] for r in cards) == ["3", "4", "5"]
    classes = (await reference(companies, realm, "classes"))["rows"]
    assert sorted(classes, key=lambda r: r["id"]) == [
        {"id": "1", "name": "Retail", "active": True, "type": None},
        {"id": "2", "name": "Wholesale", "active": True, "type": None},
        {"id": "3", "name": "Legacy", "active": False, "type": None},
    ]
    departments = (await reference(companies, realm, "departments"))["rows"]
    assert {r["name"]: r["active"] for r in departments} == {
        "North": True,
        "South": True,
        "Closed": False,
    }
    terms = {r["id"]: r for r in (await reference(companies, realm, "terms"))["rows"]}
    assert terms["3"] == {
        "id": "3",
        "name": "Net 30",
        "active": True,
        "type": "STANDARD",
        "due_days": 30,
    }
    assert terms["1"]["due_days"] == 0


async def test_tax_codes_carry_their_rates(companies: Companies) -> None:
    realm = await companies.connect("GB")
    rows = {r["id"]: r for r in (await reference(companies, realm, "tax_codes"))["rows"]}
    assert rows["1"] == {
        "id": "1",
        "name": "20.0% S",
        "active": True,
        "type": None,
        "rates": [{"id": "1", "name": "20.0% S", "rate": "20"}],
    }
    assert rows["5"]["active"] is False
    assert rows["5"]["rates"] == [{"id": "5", "name": "17.5% S", "rate": "17.5"}]
    assert companies.qbo.queries["TaxRate"] == 1


async def test_unknown_kind_and_parameters_are_422(companies: Companies) -> None:
    realm = await companies.connect()
    for path, params in (("reference/vendors", {}), ("reference/accounts", {"typ": "Income"})):
        answer = await companies.client.get(
            f"/connections/{realm}/{path}", params=params, headers=companies.admin
        )
        assert answer.status_code == 422, answer.text


async def test_a_disconnected_company_answers_its_cached_list_only(
    companies: Companies,
) -> None:
    realm = await companies.connect()
    await reference(companies, realm, "accounts")
    revoked = await companies.client.delete(f"/connections/{realm}", headers=companies.admin)
    assert revoked.status_code == 200
    cached = await reference(companies, realm, "accounts", refresh="true")
    assert len(cached["rows"]) == 14
    answer = await companies.client.get(
        f"/connections/{realm}/reference/terms", headers=companies.admin
    )
    assert answer.status_code == 409
    assert "reconnect" in answer.json()["detail"]


async def test_a_spent_budget_is_503(companies: Companies) -> None:
    realm = await companies.connect()
    await companies.app.state.budget.pause(realm, 90)
    answer = await companies.client.get(
        f"/connections/{realm}/reference/accounts", headers=companies.admin
    )
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) >= 60
