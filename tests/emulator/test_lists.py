"""The reference lists every company is seeded with (accounts, payment methods, classes,
departments, terms, tax rates and codes), how queries and reads serve them, and the admin
way to make one inactive."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.emulator.test_xsd import assert_xsd_names
from tests.fixtures.qbo import Qbo, emulator_company, fault_code


async def rows(qbo: Qbo, text: str) -> list[dict[str, Any]]:
    response = await qbo.query(text)
    assert response.status_code == 200, response.text
    entity = text.split(" FROM ")[1].split()[0]
    found: list[dict[str, Any]] = response.json()["QueryResponse"].get(entity, [])
    return found


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r.get("Name") or r.get("DisplayName")): r for r in records}


async def test_accounts_keep_their_ids_and_gain_new_ones(qbo: Qbo) -> None:
    accounts = by_name(await rows(qbo, "SELECT * FROM Account WHERE Active IN (true, false)"))
    assert {name: a["Id"] for name, a in accounts.items()} == {
        "Services": "1",
        "Sales of Product Income": "2",
        "Cost of Goods Sold": "3",
        "Undeposited Funds": "4",
        "Inventory Asset": "5",
        "Accounts Receivable (A/R)": "6",
        "Checking": "7",
        "Consulting Income": "8",
        "Product Sales": "9",
        "Old Income": "10",
        "Office Expenses": "11",
        "Supplies": "12",
        "Discounts given": "13",
        "Savings": "14",
    }
    assert accounts["Old Income"]["Active"] is False
    assert accounts["Discounts given"]["AccountType"] == "Income"
    assert accounts["Discounts given"]["AccountSubType"] == "DiscountsRefundsGiven"
    assert accounts["Savings"]["AccountType"] == "Bank"
    assert {
        a["AccountType"] for n, a in accounts.items() if n in ("Office Expenses", "Supplies")
    } == {"Expense"}


async def test_account_queries_by_type_name_and_id(qbo: Qbo) -> None:
    income = await rows(qbo, "SELECT * FROM Account WHERE AccountType = 'Income'")
    assert [a["Name"] for a in income] == [
        "Consulting Income",
        "Discounts given",
        "Product Sales",
        "Sales of Product Income",
        "Services",
    ]
    banks = await rows(qbo, "SELECT * FROM Account WHERE AccountType = 'Bank'")
    assert [a["Name"] for a in banks] == ["Checking", "Savings"]
    assert [a["Id"] for a in await rows(qbo, "SELECT * FROM Account WHERE Name = 'Supplies'")] == [
        "12"
    ]
    inactive = await rows(qbo, "SELECT * FROM Account WHERE Active = false")
    assert [a["Name"] for a in inactive] == ["Old Income"]
    assert await rows(qbo, "SELECT * FROM Account WHERE Id = '10'") == []
    typo = await qbo.query("SELECT * FROM Account WHERE Type = 'Income'")
    assert fault_code(typo) == "4001"


async def test_payment_methods(qbo: Qbo) -> None:
    every = await rows(qbo, "SELECT * FROM PaymentMethod WHERE Active IN (true, false)")
    assert [(m["Id"], m["Name"], m["Type"], m["Active"]) for m in sorted(every, key=_id)] == [
        ("1", "Cash", "NON_CREDIT_CARD", True),
        ("2", "Check", "NON_CREDIT_CARD", True),
        ("3", "Visa", "CREDIT_CARD", True),
        ("4", "MasterCard", "CREDIT_CARD", True),
        ("5", "American Express", "CREDIT_CARD", True),
        ("6", "Barter", "NON_CREDIT_CARD", False),
    ]
    active = await rows(qbo, "SELECT * FROM PaymentMethod")
    assert "Barter" not in by_name(active)
    assert len(active) == 5
    cards = await rows(qbo, "SELECT * FROM PaymentMethod WHERE Type = 'CREDIT_CARD'")
    assert sorted(m["Name"] for m in cards) == ["American Express", "MasterCard", "Visa"]
    read = await qbo.get("paymentmethod/3")
    assert read.status_code == 200
    method = read.json()["PaymentMethod"]
    # The shape of Intuit's recorded PaymentMethod (fetch_payment_method_by_id.xml).
    assert set(method) == {"domain", "sparse", "Id", "SyncToken", "MetaData", "Name", "Active"} | {
        "Type"
    }


def _id(record: dict[str, Any]) -> int:
    return int(record["Id"])


async def test_classes_departments_and_terms(qbo: Qbo) -> None:
    classes = await rows(qbo, "SELECT * FROM Class WHERE Active IN (true, false)")
    assert [(c["Name"], c["Active"]) for c in sorted(classes, key=_id)] == [
        ("Retail", True),
        ("Wholesale", True),
        ("Legacy", False),
    ]
    assert all(c["SubClass"] is False and c["FullyQualifiedName"] == c["Name"] for c in classes)
    assert [c["Name"] for c in await rows(qbo, "SELECT * FROM Class")] == ["Retail", "Wholesale"]
    departments = await rows(qbo, "SELECT * FROM Department WHERE Active = false")
    assert [d["Name"] for d in departments] == ["Closed"]
    assert [d["Name"] for d in await rows(qbo, "SELECT * FROM Department")] == ["North", "South"]
    terms = await rows(qbo, "SELECT * FROM Term ORDERBY Id")
    assert [(t["Name"], t["DueDays"]) for t in terms] == [
        ("Due on receipt", 0),
        ("Net 15", 15),
        ("Net 30", 30),
        ("Net 60", 60),
    ]
    assert {(t["Type"], t["DiscountPercent"], t["DiscountDays"]) for t in terms} == {
        ("STANDARD", 0, 0)
    }
    net30 = await rows(qbo, "SELECT * FROM Term WHERE Name = 'Net 30'")
    assert [t["Id"] for t in net30] == ["3"]
    for path, entity in (("class/2", "Class"), ("department/3", "Department"), ("term/4", "Term")):
        read = await qbo.get(path)
        assert read.status_code == 200, read.text
        assert read.json()[entity]["Id"] == path.split("/")[1]
    missing = await qbo.get("class/99")
    assert (missing.status_code, fault_code(missing)) == (400, "610")


async def test_us_company_holds_its_manual_sales_tax_rates(qbo: Qbo) -> None:
    # Lines take the TAX/NON pseudo codes; TxnTaxCodeRef names one of these codes.
    codes = await rows(qbo, "SELECT * FROM TaxCode WHERE Active IN (true, false) ORDERBY Id")
    assert [(c["Name"], c["Active"], c["TaxGroup"]) for c in codes] == [
        ("CA State", True, False),
        ("San Francisco", True, True),
        ("Old Rate", False, False),
    ]
    rates = await rows(qbo, "SELECT * FROM TaxRate WHERE Active IN (true, false) ORDERBY Id")
    assert [(r["Name"], Decimal(str(r["RateValue"]))) for r in rates] == [
        ("CA State", Decimal("7.25")),
        ("SF City", Decimal("1.375")),
        ("Old Rate", Decimal("6")),
    ]


@pytest.mark.parametrize(
    ("country", "active", "inactive"),
    [
        ("GB", ["20.0% S", "5.0% R", "0.0% Z", "Exempt"], "17.5% S"),
        ("CA", ["HST ON", "GST", "Exempt"], "GST 7%"),
        ("AU", ["GST", "FRE"], "GST 12.5%"),
    ],
)
async def test_non_us_tax_codes_point_at_tax_rates(
    country: str, active: list[str], inactive: str
) -> None:
    async with emulator_company(country=country) as qbo:
        codes = await rows(qbo, "SELECT * FROM TaxCode ORDERBY Id")
        assert [c["Name"] for c in codes] == active
        every = await rows(qbo, "SELECT * FROM TaxCode WHERE Active IN (true, false) ORDERBY Id")
        assert [c["Name"] for c in every] == [*active, inactive]
        assert every[-1]["Active"] is False
        rates = {
            r["Id"]: r
            for r in await rows(qbo, "SELECT * FROM TaxRate WHERE Active IN (true, false)")
        }
        company = qbo.store.company(qbo.realm_id)
        assert company is not None
        for code in every:
            (sales,) = code["SalesTaxRateList"]["TaxRateDetail"]
            (purchase,) = code["PurchaseTaxRateList"]["TaxRateDetail"]
            rate = rates[sales["TaxRateRef"]["value"]]
            assert sales["TaxRateRef"]["name"] == rate["Name"]
            assert purchase["TaxRateRef"] == sales["TaxRateRef"]
            assert sales["TaxTypeApplicable"] == "TaxOnAmount"
            assert rate["Active"] is code["Active"]
            assert company.tax_rates[code["Id"]] == rate["RateValue"]
            assert code["Taxable"] is (rate["RateValue"] != 0)
        agency = rates["1"]["AgencyRef"]["value"]
        read = await qbo.get(f"taxagency/{agency}")
        assert read.json()["TaxAgency"]["DisplayName"] == rates["1"]["AgencyRef"]["name"]
        for answer in (await qbo.get("taxcode/1"), await qbo.get("taxrate/1"), read):
            assert_xsd_names(answer.json())


async def test_gb_standard_rate_on_an_invoice_refers_to_its_tax_rate() -> None:
    async with emulator_company(country="GB") as qbo:
        customer = await qbo.customer("Brit Ltd")

        def line(tax_code: str) -> dict[str, Any]:
            detail = {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": tax_code}}
            return {
                "Amount": 50,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }

        invoice = await qbo.ok(
            "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line("2")]}
        )
        (tax_line,) = invoice["TxnTaxDetail"]["TaxLine"]
        assert tax_line["TaxLineDetail"]["TaxRateRef"] == {"value": "2"}
        assert tax_line["Amount"] == Decimal("2.50")
        refused = await qbo.post(  # 5 is "17.5% S", inactive
            "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line("5")]}
        )
        assert fault_code(refused) == "610"


async def test_preferences_track_classes_and_departments(qbo: Qbo) -> None:
    prefs = (await qbo.get("preferences")).json()
    accounting = prefs["Preferences"]["AccountingInfoPrefs"]
    assert accounting["ClassTrackingPerTxn"] is True
    assert accounting["ClassTrackingPerTxnLine"] is True
    assert accounting["TrackDepartments"] is True
    assert_xsd_names(prefs)


async def test_list_objects_use_only_xsd_names(qbo: Qbo) -> None:
    for text in (
        "SELECT * FROM PaymentMethod WHERE Active IN (true, false)",
        "SELECT * FROM Class WHERE Active IN (true, false)",
        "SELECT * FROM Department WHERE Active IN (true, false)",
        "SELECT * FROM Term",
        "SELECT * FROM Account WHERE Active IN (true, false)",
    ):
        response = await qbo.query(text)
        assert response.status_code == 200, response.text
        assert_xsd_names(response.json())


@pytest.mark.parametrize(
    ("collection", "record_id", "entity"),
    [
        ("paymentmethods", "3", "PaymentMethod"),
        ("classes", "1", "Class"),
        ("departments", "2", "Department"),
        ("terms", "3", "Term"),
        ("accounts", "8", "Account"),
    ],
)
async def test_admin_deactivates_a_list_record(
    qbo: Qbo, collection: str, record_id: str, entity: str
) -> None:
    base = f"/admin/companies/{qbo.realm_id}/{collection}"
    qbo.store.clock.advance(5)
    off = await qbo.client.post(f"{base}/{record_id}/deactivate")
    assert off.status_code == 200, off.text
    assert (off.json()["Active"], off.json()["SyncToken"]) == (False, "1")
    active = await rows(qbo, f"SELECT * FROM {entity}")  # noqa: S608 - a test's own names
    assert record_id not in {r["Id"] for r in active}
    inactive = await rows(qbo, f"SELECT * FROM {entity} WHERE Active = false")  # noqa: S608
    assert record_id in {r["Id"] for r in inactive}
    read = await qbo.get(f"{entity.lower()}/{record_id}")
    assert read.json()[entity]["Active"] is False  # a read by Id still finds it
    listed = (await qbo.client.get(base)).json()
    assert any(r["Id"] == record_id and r["Active"] is False for r in listed)
    back = await qbo.client.patch(f"{base}/{record_id}", json={"Active": True})
    assert (back.json()["Active"], back.json()["SyncToken"]) == (True, "2")


async def test_admin_counts_and_refuses_to_deactivate_what_has_no_active_flag() -> None:
    async with emulator_company(country="GB") as qbo:
        summary = (await qbo.client.get(f"/admin/companies/{qbo.realm_id}")).json()
        counts = summary["counts"]
        assert (counts["paymentmethods"], counts["classes"], counts["terms"]) == (6, 3, 4)
        assert (counts["taxcodes"], counts["taxrates"], counts["taxagencies"]) == (5, 5, 1)
        base = f"/admin/companies/{qbo.realm_id}"
        refused = await qbo.client.post(f"{base}/taxagencies/1/deactivate")
        assert refused.status_code == 400
        missing = await qbo.client.post(f"{base}/terms/99/deactivate")
        assert missing.status_code == 404
