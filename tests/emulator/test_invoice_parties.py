"""Who an invoice is for: sub-customers (jobs) and foreign-currency customers in a
multicurrency company, with ExchangeRate, HomeTotalAmt and HomeBalance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.emulator.test_xsd import assert_xsd_names
from tests.fixtures.qbo import Qbo, emulator_company, fault_code
from tests.support.invoice_bodies import invoice, sales, valid


def amount(value: Any) -> Decimal:
    return Decimal(str(value))


def job(name: str, parent_id: str, **fields: Any) -> dict[str, Any]:
    return valid(
        "Customer", {"DisplayName": name, "ParentRef": {"value": parent_id}, "Job": True, **fields}
    )


async def test_sub_customers_nest_under_their_parent(qbo: Qbo) -> None:
    parent = await qbo.customer("Freeman Sporting Goods")
    child = await qbo.ok("customer", job("55 Twin Lane", parent["Id"], BillWithParent=True))
    grandchild = await qbo.ok("customer", job("Unit 4", child["Id"]))
    assert (child["FullyQualifiedName"], child["Level"], child["Job"]) == (
        "Freeman Sporting Goods:55 Twin Lane",
        1,
        True,
    )
    assert child["ParentRef"] == {"value": parent["Id"]}
    assert (grandchild["FullyQualifiedName"], grandchild["Level"]) == (
        "Freeman Sporting Goods:55 Twin Lane:Unit 4",
        2,
    )
    record = await qbo.ok("invoice", invoice(grandchild["Id"], sales("10")))
    assert record["CustomerRef"] == {"value": grandchild["Id"], "name": "Unit 4"}
    answer = await qbo.get(f"customer/{grandchild['Id']}")
    assert_xsd_names(answer.json())


async def test_job_names_are_unique_per_parent(qbo: Qbo) -> None:
    first = await qbo.customer("Jack Doe")
    other = await qbo.customer("Doe, Jack")
    # The same DisplayName once at the top and once under each parent (as recorded).
    twin = await qbo.ok("customer", job("Jack Doe", other["Id"]))
    assert twin["FullyQualifiedName"] == "Doe, Jack:Jack Doe"
    await qbo.ok("customer", job("Jack Doe", first["Id"]))
    again = await qbo.post("customer", job("jack doe", other["Id"]))
    assert (again.status_code, fault_code(again)) == (400, "6240")


async def test_parent_ref_and_job_go_together_and_the_parent_must_exist(qbo: Qbo) -> None:
    parent = await qbo.customer("Parent")
    without_job = await qbo.post(
        "customer", valid("Customer", {"DisplayName": "Kid", "ParentRef": {"value": parent["Id"]}})
    )
    assert (without_job.status_code, fault_code(without_job)) == (400, "2020")
    without_parent = await qbo.post(
        "customer", valid("Customer", {"DisplayName": "Kid", "Job": True})
    )
    assert fault_code(without_parent) == "2020"
    missing = await qbo.post("customer", job("Kid", "999"))
    assert fault_code(missing) == "2500"
    await qbo.client.post(f"/admin/companies/{qbo.realm_id}/customers/{parent['Id']}/deactivate")
    inactive = await qbo.post("customer", job("Kid", parent["Id"]))
    assert fault_code(inactive) == "610"


async def test_renaming_a_parent_renames_its_jobs(qbo: Qbo) -> None:
    parent = await qbo.customer("Old Name")
    child = await qbo.ok("customer", job("Site", parent["Id"]))
    grandchild = await qbo.ok("customer", job("Room", child["Id"]))
    await qbo.ok(
        "customer",
        {"Id": parent["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "New Name"},
    )
    read = (await qbo.get(f"customer/{grandchild['Id']}")).json()["Customer"]
    assert read["FullyQualifiedName"] == "New Name:Site:Room"


async def test_jobs_nest_at_most_four_levels(qbo: Qbo) -> None:
    parent = await qbo.customer("Top")
    for depth in range(1, 5):
        parent = await qbo.ok("customer", job(f"Level {depth}", parent["Id"]))
    assert parent["Level"] == 4
    answer = await qbo.post("customer", job("Level 5", parent["Id"]))
    assert fault_code(answer) == "6000"


async def test_foreign_currency_invoice_without_rate_is_booked_at_one() -> None:
    async with emulator_company(multicurrency=True) as qbo:
        prefs = (await qbo.get("preferences")).json()["Preferences"]["CurrencyPrefs"]
        assert prefs == {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}}
        customer = await qbo.customer("Euro Client", CurrencyRef={"value": "EUR"})
        assert customer["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
        answer = await qbo.post(
            "invoice", invoice(customer["Id"], sales("100"), CurrencyRef={"value": "EUR"})
        )
        assert answer.status_code == 200, answer.text
        assert_xsd_names(answer.json())
        record = answer.json()["Invoice"]
        assert record["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
        assert (amount(record["ExchangeRate"]), amount(record["HomeTotalAmt"])) == (
            Decimal("1"),
            Decimal("100.00"),
        )


async def test_exchange_rate_sets_home_amounts_and_payments_move_home_balance() -> None:
    async with emulator_company(multicurrency=True) as qbo:
        customer = await qbo.customer("Euro Client", CurrencyRef={"value": "EUR"})
        record = await qbo.ok("invoice", invoice(customer["Id"], sales("100.01"), ExchangeRate=1.1))
        assert amount(record["ExchangeRate"]) == Decimal("1.1")
        assert amount(record["HomeTotalAmt"]) == Decimal("110.01")  # 110.011
        assert amount(record["HomeBalance"]) == Decimal("110.01")
        payment = await qbo.ok(
            "payment",
            valid(
                "Payment",
                {
                    "CustomerRef": {"value": customer["Id"]},
                    "TotalAmt": 50,
                    "ExchangeRate": 1.2,
                    "Line": [
                        {"Amount": 50, "LinkedTxn": [{"TxnId": record["Id"], "TxnType": "Invoice"}]}
                    ],
                },
            ),
        )
        assert payment["CurrencyRef"]["value"] == "EUR"
        assert amount(payment["ExchangeRate"]) == Decimal("1.2")
        read = (await qbo.get(f"invoice/{record['Id']}")).json()["Invoice"]
        assert amount(read["Balance"]) == Decimal("50.01")
        assert amount(read["HomeBalance"]) == Decimal("55.01")
        other = await qbo.ok("invoice", invoice(customer["Id"], sales("10"), ExchangeRate=2))
        voided = await qbo.post("invoice", {"Id": other["Id"], "SyncToken": "0"}, operation="void")
        assert (
            voided.json()["Invoice"]["HomeTotalAmt"],
            voided.json()["Invoice"]["HomeBalance"],
        ) == (0, 0)


async def test_home_currency_invoice_rate_is_one_and_currency_must_be_the_customers() -> None:
    async with emulator_company(multicurrency=True) as qbo:
        local = await qbo.customer("Local")
        record = await qbo.ok("invoice", invoice(local["Id"], sales("20"), ExchangeRate=3))
        assert (amount(record["ExchangeRate"]), amount(record["HomeTotalAmt"])) == (
            Decimal("1"),
            Decimal("20.00"),
        )
        wrong = await qbo.post(
            "invoice", invoice(local["Id"], sales("20"), CurrencyRef={"value": "EUR"})
        )
        assert (wrong.status_code, fault_code(wrong)) == (400, "6000")
        unknown = await qbo.post(
            "customer", valid("Customer", {"DisplayName": "Zed", "CurrencyRef": {"value": "ZZZ"}})
        )
        assert fault_code(unknown) == "2500"


async def test_single_currency_company_has_no_exchange_fields(qbo: Qbo) -> None:
    customer = await qbo.customer("Plain")
    record = await qbo.ok("invoice", invoice(customer["Id"], sales("20")))
    assert {"ExchangeRate", "HomeTotalAmt", "HomeBalance"}.isdisjoint(record)
    summary = (
        await qbo.client.patch(f"/admin/companies/{qbo.realm_id}", json={"multicurrency": True})
    ).json()
    assert summary["multicurrency"] is True
    off = await qbo.client.patch(f"/admin/companies/{qbo.realm_id}", json={"multicurrency": False})
    assert off.status_code == 400
    ast = await qbo.client.patch(
        f"/admin/companies/{qbo.realm_id}", json={"automated_sales_tax": True}
    )
    assert ast.status_code == 400
