"""Classification of a change seen in QBO against what we last wrote (pure)."""

from __future__ import annotations

from typing import Any

from app.drift.owned import classify, owned_fields


def customer(
    token: str = "1",  # noqa: S107 - a SyncToken
    **fields: Any,
) -> dict[str, Any]:
    record = {
        "Id": "58",
        "SyncToken": token,
        "DisplayName": "Acme Ltd",
        "PrimaryEmailAddr": {"Address": "ap@acme.test"},
        "Active": True,
        "Balance": 0,
    }
    record.update(fields)
    return record


def invoice(
    token: str = "0",  # noqa: S107 - a SyncToken
    **fields: Any,
) -> dict[str, Any]:
    record = {
        "Id": "130",
        "SyncToken": token,
        "CustomerRef": {"value": "58"},
        "TxnDate": "2026-11-25",
        "TotalAmt": 360.0,
        "PrivateNote": "qbo-sync:invoice:inv-1",
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "DetailType": "SalesItemLineDetail",
                "Amount": 360.0,
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "7", "name": "Hour"},
                    "Qty": 3,
                    "UnitPrice": 120,
                    "TaxCodeRef": {"value": "NON"},
                },
            },
            {"DetailType": "SubTotalLineDetail", "Amount": 360.0},
        ],
    }
    record.update(fields)
    return record


def test_our_own_write_and_older_versions_are_no_drift() -> None:
    ours = owned_fields("customer", customer())
    assert classify("customer", ours, "1", customer("1")).change is None
    assert "our own write" in classify("customer", ours, "1", customer("1")).reason
    assert "older" in classify("customer", ours, "2", customer("1")).reason


def test_fields_we_do_not_own_are_no_drift() -> None:
    ours = owned_fields("customer", customer())
    verdict = classify("customer", ours, "1", customer("2", Balance=120, Title="Dr"))
    assert verdict.change is None
    assert verdict.sync_token == "2"


def test_an_edit_of_our_fields_names_them() -> None:
    ours = owned_fields("customer", customer())
    verdict = classify("customer", ours, "1", customer("2", DisplayName="Acme Limited"))
    assert verdict.change is not None
    assert verdict.change.kind == "edited"
    assert verdict.change.changes == {"DisplayName": {"ours": "Acme Ltd", "theirs": "Acme Limited"}}


def test_numbers_compare_as_decimals() -> None:
    ours = owned_fields("invoice", invoice())
    same = invoice("1", TotalAmt="360.00")
    same["Line"][0]["SalesItemLineDetail"]["UnitPrice"] = "120.0"
    assert classify("invoice", ours, "0", same).change is None


def test_void_inactive_delete_merge() -> None:
    ours = owned_fields("invoice", invoice())
    voided = invoice("1", TotalAmt=0, PrivateNote="Voided - qbo-sync:invoice:inv-1")
    change = classify("invoice", ours, "0", voided).change
    assert change is not None
    assert change.kind == "voided"
    inactive = classify(
        "customer", owned_fields("customer", customer()), "1", customer("2", Active=False)
    ).change
    assert inactive is not None
    assert inactive.kind == "inactive"
    assert classify("invoice", ours, "0", None).change.kind == "deleted"  # type: ignore[union-attr]
    merged = classify("customer", None, "1", None, "Merge").change
    assert merged is not None
    assert merged.kind == "merged"


def test_a_changed_line_is_an_edit() -> None:
    ours = owned_fields("invoice", invoice())
    edited = invoice("1")
    edited["Line"][0]["SalesItemLineDetail"]["Qty"] = 4
    change = classify("invoice", ours, "0", edited).change
    assert change is not None
    assert change.kind == "edited"
    assert set(change.changes) == {"Line"}
