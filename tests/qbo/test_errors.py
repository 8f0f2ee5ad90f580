"""The error classifier, fed every Fault code in qbo-facts.md and every recorded Fault body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.failures import Category
from app.qbo.errors import classify, classify_item, lost_answer, parse_fault

FIXTURES = Path(__file__).parent / "fixtures"


def fault(code: str, message: str = "msg", element: str = "") -> dict[str, Any]:
    return {
        "Fault": {
            "Error": [{"Message": message, "Detail": "detail", "code": code, "element": element}],
            "type": "ValidationFault",
        },
        "time": "2026-11-25T02:00:00.000-08:00",
    }


# (HTTP status, Fault code) -> category: every code of qbo-facts.md's table, with the status
# QBO sends it with.
CASES = [
    (401, "100", Category.AUTH),
    (401, "120", Category.CONNECTION),
    (400, "500", Category.PERMANENT),  # "Unsupported Operation" arrives as HTTP 400
    (400, "600", Category.PERMANENT),
    (400, "610", Category.NOT_FOUND),
    (400, "620", Category.PERMANENT),
    (400, "1040", Category.PERMANENT),
    (400, "2020", Category.PERMANENT),
    (400, "2050", Category.PERMANENT),
    (400, "2170", Category.PERMANENT),
    (400, "2210", Category.PERMANENT),
    (400, "2500", Category.PERMANENT),
    (429, "3001", Category.THROTTLED),
    (403, "3001", Category.THROTTLED),  # how throttling looked in 2016
    (403, "3100", Category.CONNECTION),
    (401, "3200", Category.AUTH),
    (400, "4000", Category.PERMANENT),
    (400, "5010", Category.STALE),
    (400, "5020", Category.PERMANENT),
    (400, "6000", Category.PERMANENT),
    (400, "6070", Category.PERMANENT),
    (400, "6100", Category.PERMANENT),
    (400, "6140", Category.PERMANENT),
    (400, "6190", Category.PERMANENT),
    (400, "6210", Category.PERMANENT),
    (400, "6240", Category.DUPLICATE_NAME),
    (400, "6540", Category.PERMANENT),
    (500, "10000", Category.TRANSIENT),
]


@pytest.mark.parametrize(("status", "code", "category"), CASES)
def test_every_documented_code(status: int, code: str, category: Category) -> None:
    error = classify(status, json.dumps(fault(code)), {"intuit_tid": "1-abc"})
    assert error is not None
    assert error.category is category
    assert error.code == code
    assert error.intuit_tid == "1-abc"
    assert error.retryable is (
        category in {Category.THROTTLED, Category.TRANSIENT, Category.AUTH, Category.STALE}
    )


@pytest.mark.parametrize(
    ("status", "category", "limit"),
    [
        (500, Category.TRANSIENT, 1),
        (502, Category.TRANSIENT, None),
        (503, Category.TRANSIENT, None),
        (504, Category.TRANSIENT, None),
        (429, Category.THROTTLED, None),
        (401, Category.AUTH, None),
        (400, Category.PERMANENT, None),
    ],
)
def test_status_without_a_readable_body(status: int, category: Category, limit: int | None) -> None:
    error = classify(status, b"<html>Service Unavailable</html>")
    assert error is not None
    assert error.category is category
    assert error.retry_limit == limit


def test_retry_after_is_read_for_throttling() -> None:
    error = classify(429, None, {"Retry-After": "17"})
    assert error is not None
    assert error.retry_after == 17.0


def test_success_is_not_an_error() -> None:
    assert classify(200, json.dumps({"Customer": {"Id": "1"}})) is None
    assert classify(200, None) is None


# Every recorded Fault body: the file, its HTTP status, the category, the code, the element.
RECORDED = [
    ("error__400__1.response.json", 400, Category.PERMANENT, "4001", None),
    ("error__400_json__0.response.json", 400, Category.PERMANENT, "2010", None),
    ("error__401__0.response.json", 401, Category.AUTH, "3200", None),
    ("error__500__0.response.json", 400, Category.PERMANENT, "500", None),
    ("error__500__1.response.json", 400, Category.PERMANENT, "2030", "Id"),
    ("attachment__error_estimate__0.response.json", 200, None, None, None),  # Fault in a list
    ("throttle_exceeded_error.xml", 403, Category.THROTTLED, "3001", None),
    ("too_many_requests_error.xml", 429, Category.THROTTLED, "3001", None),
    ("generic_error.xml", 500, Category.TRANSIENT, "10000", None),
    ("customer_duplicate_error.xml", 400, Category.DUPLICATE_NAME, "6240", None),
    ("query_validation_error.xml", 400, Category.PERMANENT, "4001", None),
    ("fault.xml", 400, Category.PERMANENT, "2050", "firstname"),
    ("no_detail.xml", 401, Category.AUTH, "3200", None),
]


@pytest.mark.parametrize(("name", "status", "category", "code", "element"), RECORDED)
def test_every_recorded_fault_body(
    name: str, status: int, category: Category | None, code: str | None, element: str | None
) -> None:
    body = (FIXTURES / name).read_bytes()
    if category is None:
        # AttachableResponse[]: each item carries its own Fault, like a batch item.
        items = json.loads(body)["AttachableResponse"]
        error = classify_item(items[0])
        assert error is not None
        assert error.category is Category.PERMANENT
        assert error.code == "6000"
        assert "does not exist" in error.message
        return
    error = classify(status, body)
    assert error is not None
    assert error.category is category
    assert error.code == code
    assert error.element == element
    assert error.message


def test_lower_case_401_shape_keeps_its_detail() -> None:
    _, errors = parse_fault((FIXTURES / "error__401__0.response.json").read_bytes())
    assert errors[0].detail is not None
    assert errors[0].detail.startswith("Token expired")


def test_several_errors_in_one_fault_are_all_kept() -> None:
    error = classify(400, (FIXTURES / "fault.xml").read_bytes())
    assert error is not None
    assert [e.code for e in error.errors] == ["2050", "2080"]


def test_batch_items_are_matched_by_bid_not_position() -> None:
    body = json.loads((FIXTURES / "batch__basic__0.response.json").read_bytes())
    outcome = {item["bId"]: classify_item(item) for item in body["BatchItemResponse"]}
    assert outcome["bid1"] is None
    failed = {bid: e.code for bid, e in outcome.items() if e is not None}
    assert set(failed.values()) == {"610", "5010"}
    assert {e.category for e in outcome.values() if e} == {Category.NOT_FOUND, Category.STALE}

    examples = json.loads((FIXTURES / "fault-examples.json").read_bytes())
    items = examples["batch_response"]["body"]["BatchItemResponse"]
    by_bid = {item["bId"]: classify_item(item) for item in items}
    assert by_bid["2"] is None
    duplicate = by_bid["1"]
    assert duplicate is not None
    assert duplicate.category is Category.DUPLICATE_NAME


def test_python_quickbooks_examples() -> None:
    examples = json.loads((FIXTURES / "fault-examples.json").read_bytes())["fault_bodies"]
    validation = classify(400, {"Fault": examples[0]["body"]})
    severe = classify(400, {"Fault": examples[1]["body"]})
    assert validation is not None
    assert validation.category is Category.PERMANENT
    assert validation.element == "Id"
    assert severe is not None
    assert severe.category is Category.TRANSIENT  # >= 10000: SystemFault, resubmit once
    assert severe.retry_limit == 1


def test_lost_answers_are_transient_and_writes_ambiguous() -> None:
    request = httpx.Request("POST", "https://quickbooks.api.intuit.com/v3/company/1/invoice")
    error = lost_answer(httpx.ReadTimeout("timed out", request=request), write=True)
    assert error.category is Category.TRANSIENT
    assert error.ambiguous
    assert error.reason()["ambiguous"] is True
    assert "ReadTimeout" in error.message
    assert not lost_answer(httpx.ConnectError("refused"), write=False).ambiguous


def test_reason_is_what_an_event_stores() -> None:
    error = classify(400, fault("6070", "Amount is not equal", "Line.Amount"), {"intuit_tid": "t"})
    assert error is not None
    assert error.reason() == {
        "category": "permanent",
        "code": "6070",
        "message": "Amount is not equal: detail",
        "element": "Line.Amount",
        "intuit_tid": "t",
        "http_status": 400,
        "ambiguous": False,
    }
