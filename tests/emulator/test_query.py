"""The query language: operators, paging, ordering, escaping and its two parse faults."""

from __future__ import annotations

import pytest

from app.emulator import faults
from app.emulator.query import parse, tokenize
from tests.fixtures.qbo import Qbo, fault_code


async def names(qbo: Qbo, text: str) -> list[str]:
    response = await qbo.query(text)
    assert response.status_code == 200, response.text
    return [c["DisplayName"] for c in response.json()["QueryResponse"].get("Customer", [])]


@pytest.fixture
async def people(qbo: Qbo) -> Qbo:
    for name in ("Amy's Bird Sanctuary", "Bill's Windsurf", "Cool Cars", "Diego Rodriguez"):
        await qbo.customer(name)
    sleeper = await qbo.customer("Zed Inactive")
    await qbo.post(
        "customer", {"Id": sleeper["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    return qbo


async def test_equality_with_escaped_quote(people: Qbo) -> None:
    text = "SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'"
    assert await names(people, text) == ["Amy's Bird Sanctuary"]


async def test_unescaped_quote_is_a_parse_error(people: Qbo) -> None:
    response = await people.query("SELECT * FROM Customer WHERE DisplayName = 'Amy's'")
    assert (response.status_code, fault_code(response)) == (400, "4000")
    assert response.json()["Fault"]["Error"][0]["Message"] == "Error parsing query"


async def test_like_in_and_active_filter(people: Qbo) -> None:
    assert await names(people, "select * from Customer where DisplayName like '%a%'") == [
        "Amy's Bird Sanctuary",
        "Cool Cars",
    ]
    text = "SELECT * FROM Customer WHERE Id IN ('1', '3', '5') AND DisplayName LIKE 'C%'"
    assert await names(people, text) == ["Cool Cars"]
    everyone = "SELECT * FROM Customer WHERE Active IN (true, false)"
    assert "Zed Inactive" in await names(people, everyone)
    assert "Zed Inactive" not in await names(people, "SELECT * FROM Customer")


async def test_order_paging_and_count(people: Qbo) -> None:
    text = "SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 2"
    assert await names(people, text) == ["Cool Cars", "Bill's Windsurf"]
    response = await people.query("SELECT COUNT(*) FROM Customer")
    assert response.json()["QueryResponse"] == {"totalCount": 4}
    empty = await people.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'")
    assert empty.json()["QueryResponse"] == {}


async def test_comparisons_on_amounts_and_times(people: Qbo) -> None:
    await people.invoice("1", "50")
    await people.invoice("2", "500")
    response = await people.query("SELECT * FROM Invoice WHERE TotalAmt > '100.00'")
    assert [i["TotalAmt"] for i in response.json()["QueryResponse"]["Invoice"]] == [500]
    since = "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2000-01-01T00:00:00Z'"
    assert len(await names(people, since)) == 4
    by_ref = await people.query("SELECT * FROM Invoice WHERE CustomerRef = '2'")
    assert len(by_ref.json()["QueryResponse"]["Invoice"]) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT * FROM Custmoer", "4001"),
        ("SELECT * FROM Customer WHERE Nonsense = '1'", "4001"),
        ("SELECT * FROM Customer MAXRESULTS 1001", "4001"),
        ("SELECT * FROM Customer STARTPOSITION 0", "4001"),
        ("SELECT * Customer", "4000"),
        ("SELECT * FROM Customer WHERE DisplayName = 'a' OR Id = '1'", "4000"),
        ("SELECT * FROM Customer WHERE", "4000"),
        ("DELETE FROM Customer", "4000"),
    ],
)
async def test_query_faults(qbo: Qbo, text: str, code: str) -> None:
    response = await qbo.query(text)
    assert (response.status_code, fault_code(response)) == (400, code)


async def test_post_query_and_projection(people: Qbo) -> None:
    response = await people.client.post(
        f"{people.base}/query",
        content=b"SELECT Id, DisplayName FROM Customer MAXRESULTS 1",
        headers={**people.headers, "Content-Type": "application/text"},
    )
    customer = response.json()["QueryResponse"]["Customer"][0]
    assert set(customer) == {"Id", "SyncToken", "DisplayName", "sparse"}


def test_parser_units() -> None:
    query = parse("select * from Invoice where TotalAmt >= '1' and DocNumber in ('a', 'b\\'c')")
    assert [c.op for c in query.conditions] == [">=", "IN"]
    assert query.conditions[1].values == ["a", "b'c"]
    assert [t.kind for t in tokenize("COUNT(*)")] == ["word", "punct", "punct", "punct"]
    with pytest.raises(faults.QboFault) as raised:
        parse("select * from Invoice where DocNumber = 'open")
    assert raised.value.code == "4000"
