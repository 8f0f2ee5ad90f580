"""Two companies, one service: each company's records carry its own accounts, tax codes and
payment methods, from its own settings; a change applies to what is synced after it."""

from __future__ import annotations

from typing import Any

from tests.fixtures.world import World
from tests.support.factories import customer_event, invoice_event, item_event, payment_event


def _id_of(rows: list[dict[str, Any]], name: str) -> str:
    return next(str(r["Id"]) for r in rows if r.get("Name") == name)


async def _settings(world: World, realm_id: str, **values: Any) -> None:
    answer = await world.client.put(
        f"/connections/{realm_id}/settings", json=values, headers=world.auth
    )
    assert answer.status_code == 200, answer.text


def _events(suffix: str, currency: str = "USD") -> list[dict[str, Any]]:
    line = {
        "item_external_id": "item-1",
        "description": "Consulting",
        "quantity": "2",
        "unit_price": "175.00",
        "amount": "350.00",
    }
    return [
        customer_event("cust-1", event_id=f"c-{suffix}", data={"currency": currency}),
        item_event("item-1", event_id=f"i-{suffix}"),
        invoice_event("inv-1", event_id=f"v-{suffix}", data={"lines": [line]}),
        payment_event("pay-1", event_id=f"p-{suffix}", data={"method": "card"}),
    ]


async def test_two_companies_get_the_same_events_booked_with_their_own_ids(
    world: World,
) -> None:
    first = (await world.connect("GB")).realm
    other = World(world.client, world.auth, world.books, world.settings, world.factory, world.redis)
    second = (await other.connect("GB")).realm
    chosen: dict[str, dict[str, str]] = {}
    for realm_id, income, tax, method in (
        (first, "Consulting Income", "5.0% R", "Visa"),
        (second, "Product Sales", "0.0% Z", "MasterCard"),
    ):
        accounts = await world.books.records(realm_id, "accounts")
        codes = await world.books.records(realm_id, "taxcodes")
        methods = await world.books.records(realm_id, "paymentmethods")
        chosen[realm_id] = {
            "income": _id_of(accounts, income),
            "tax": _id_of(codes, tax),
            "method": _id_of(methods, method),
        }
        await _settings(
            world,
            realm_id,
            item_income_account_id=chosen[realm_id]["income"],
            tax_code_id=chosen[realm_id]["tax"],
            payment_methods={"card": chosen[realm_id]["method"]},
        )

    await world.post(*_events("a", "GBP"))
    await other.post(*_events("b", "GBP"))
    counts = await world.drain()
    assert counts == {"synced": 8}, counts

    for realm_id in (first, second):
        ids = chosen[realm_id]
        [item] = [
            r for r in await world.books.records(realm_id, "items") if r["Name"] != "Services"
        ]
        assert item["IncomeAccountRef"]["value"] == ids["income"]
        [invoice] = await world.books.records(realm_id, "invoices")
        booked = {
            line["SalesItemLineDetail"]["TaxCodeRef"]["value"]
            for line in invoice["Line"]
            if line.get("DetailType") == "SalesItemLineDetail"
        }
        assert booked == {ids["tax"]}
        [payment] = await world.books.records(realm_id, "payments")
        assert payment["PaymentMethodRef"]["value"] == ids["method"]
    assert chosen[first] != chosen[second]


async def test_a_change_applies_to_what_is_synced_after_it(world: World) -> None:
    realm_id = (await world.connect("US")).realm
    accounts = await world.books.records(realm_id, "accounts")
    before, after = _id_of(accounts, "Services"), _id_of(accounts, "Consulting Income")
    await world.send(item_event("item-1", event_id="i-1"))
    await _settings(world, realm_id, item_income_account_id=after)
    await world.send(item_event("item-2", event_id="i-2"))
    await world.send(item_event("item-1", event_id="i-1-v2", data={"description": "Two hours"}))

    items = {r["Name"]: r for r in await world.books.records(realm_id, "items")}
    assert items["Consulting item-1"]["IncomeAccountRef"]["value"] == before
    assert items["Consulting item-1"]["Description"] == "Two hours"
    assert items["Consulting item-2"]["IncomeAccountRef"]["value"] == after


async def test_a_method_the_company_does_not_have_is_never_dropped(world: World) -> None:
    realm_id = (await world.connect("US")).realm
    events = _events("x")
    events[-1]["data"]["method"] = "barter"
    counts = await world.send(*events)
    assert counts == {"synced": 3, "dead": 1}, counts
    dead = await world.event(events[-1])
    assert "payment_methods" in dead["last_error"]["message"]
    assert await world.books.records(realm_id, "payments") == []
