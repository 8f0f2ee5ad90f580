"""The request the engine would send for a Work, built without sending: a create with no
mapping, a sparse update at the stored SyncToken, deactivate, void and delete at it, each
with the requestid the engine uses, Decimals as the exact text of the numbers sent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.config import Settings
from app.connections.settings import EffectiveSettings
from app.sync.company import CompanyLookups
from app.sync.payloads import PayloadError, customer_body, invoice_body, json_ready
from app.sync.preview import next_request
from app.sync.work import Target, Work
from tests.support.samples import ITEM_REFS, US, customer, invoice

REALM = "9130"


class Lists:
    """A company's lists as the lookups read them; counts the queries."""

    realm_id = REALM

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def query(self, statement: str) -> list[dict[str, Any]]:
        self.queries.append(statement)
        return []


def _work(
    entity_type: str,
    operation: str,
    data: dict[str, Any],
    target: Target | None = None,
    refs: dict[tuple[str, str], str] | None = None,
    replays: int = 0,
) -> Work:
    return Work(
        event_id=uuid.UUID("5b0c6f4e-8d2a-4c1b-9e3f-7a6d5c4b3a21"),
        entity_type=entity_type,
        external_id=str(data["external_id"]),
        operation=operation,
        payload={"data": data},
        target=target,
        refs=refs or {},
        maybe_applied=False,
        context=US,
        settings=EffectiveSettings.of(None, Settings(_env_file=None)),
        replays=replays,
    )


async def _request(work: Work) -> dict[str, Any]:
    return await next_request(work, REALM, 75, CompanyLookups(), Lists())


async def test_an_upsert_without_a_mapping_is_a_create_with_the_create_requestid() -> None:
    data = customer()
    work = _work("customer", "upserted", data.model_dump(mode="json", by_alias=True))

    request = await _request(work)

    assert request == {
        "method": "POST",
        "path": f"/v3/company/{REALM}/customer",
        "query": {"requestid": work.rid("create"), "minorversion": "75"},
        "body": json_ready(customer_body(data, US)),
    }


async def test_an_upsert_with_a_mapping_is_a_sparse_update_at_the_stored_sync_token() -> None:
    data = customer().model_dump(mode="json", by_alias=True)
    work = _work("customer", "upserted", data, Target("58", "4"))

    request = await _request(work)

    assert request["query"]["requestid"] == work.rid("update:4")
    body = request["body"]
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("58", "4", True)
    assert "CurrencyRef" not in body
    assert body["Notes"] == "qbo-sync:customer:crm-1001"


async def test_amounts_are_the_exact_text_of_the_numbers_sent() -> None:
    data = invoice()
    refs = {("customer", "crm-1001"): "58", **{("item", k): v for k, v in ITEM_REFS.items()}}
    work = _work("invoice", "upserted", data.model_dump(mode="json", by_alias=True), refs=refs)

    request = await _request(work)

    built = invoice_body(data, US, "58", ITEM_REFS, defaults=True)
    assert request["body"] == json_ready(built)
    line = request["body"]["Line"][0]
    assert (line["Amount"], line["SalesItemLineDetail"]["Qty"]) == ("1199.88", "12")
    assert request["body"]["Line"][1]["SalesItemLineDetail"]["UnitPrice"] == "0.1"


@pytest.mark.parametrize(
    ("entity_type", "operation", "query", "body"),
    [
        ("invoice", "voided", {"operation": "void"}, {"Id": "130", "SyncToken": "2"}),
        (
            "payment",
            "voided",
            {"operation": "update", "include": "void"},
            {"Id": "130", "SyncToken": "2", "sparse": True},
        ),
        ("invoice", "deleted", {"operation": "delete"}, {"Id": "130", "SyncToken": "2"}),
        ("payment", "deleted", {"operation": "delete"}, {"Id": "130", "SyncToken": "2"}),
        (
            "item",
            "deactivated",
            {},
            {"Id": "130", "SyncToken": "2", "sparse": True, "Active": False},
        ),
    ],
)
async def test_deactivate_void_and_delete_write_at_the_stored_sync_token(
    entity_type: str, operation: str, query: dict[str, str], body: dict[str, Any]
) -> None:
    work = _work(entity_type, operation, {"external_id": "x-1"}, Target("130", "2"))

    request = await _request(work)

    what = {"voided": "void", "deleted": "delete", "deactivated": "deactivate"}[operation]
    assert request["path"] == f"/v3/company/{REALM}/{entity_type}"
    assert request["query"] == {**query, "requestid": work.rid(f"{what}:2"), "minorversion": "75"}
    assert request["body"] == body


async def test_a_replayed_event_writes_under_a_requestid_of_its_own() -> None:
    data = customer().model_dump(mode="json", by_alias=True)
    first = await _request(_work("customer", "upserted", data))
    replayed = await _request(_work("customer", "upserted", data, replays=1))
    assert first["query"]["requestid"] != replayed["query"]["requestid"]
    assert replayed["body"] == first["body"]


async def test_a_void_of_a_record_not_in_qbo_has_no_request() -> None:
    work = _work("invoice", "voided", {"external_id": "inv-9"})
    with pytest.raises(PayloadError, match="has no QBO record"):
        await _request(work)


async def test_an_unknown_term_is_refused_naming_its_field() -> None:
    data = invoice(terms="Net 45").model_dump(mode="json", by_alias=True)
    refs = {("customer", "crm-1001"): "58", **{("item", k): v for k, v in ITEM_REFS.items()}}
    lists = Lists()

    with pytest.raises(PayloadError) as refused:
        await next_request(
            _work("invoice", "upserted", data, refs=refs), REALM, 75, CompanyLookups(), lists
        )

    assert refused.value.field == "/data/terms"
    assert [q.split()[3] for q in lists.queries] == ["Term"]  # read through the reader
