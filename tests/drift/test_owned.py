"""Classification of a change seen in QBO against what we last wrote (pure)."""

from __future__ import annotations

from typing import Any

from app.core.times import parse_time
from app.drift.changes import OLDER_VERSION, classify, echo_of_own_write, touched_by
from app.sync.owned import last_updated, owned_fields, write_operation


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


# -- the webhooks of our own writes ------------------------------------------------------

WRITTEN = parse_time("2026-01-05T09:00:00-08:00")  # MetaData.LastUpdatedTime: to the second


def test_a_notification_of_our_write_in_any_precision_is_ours_once() -> None:
    # Legacy `lastUpdated` (milliseconds, Z) and CloudEvents `time` (nanoseconds).
    for stamp in ("2026-01-05T17:00:00.000Z", "2026-01-05T17:00:00.034359333Z"):
        seen = parse_time(stamp)
        assert echo_of_own_write("Update", seen, "Update", WRITTEN, False) == "our own write"
        # A second notification of that second is not ours: someone else's change.
        assert echo_of_own_write("Update", seen, "Update", WRITTEN, True) is None
        # Not what we did: a create of ours is no update of theirs.
        assert echo_of_own_write("Update", seen, "Create", WRITTEN, False) is None
        assert echo_of_own_write("Void", seen, "Update", WRITTEN, False) is None


def test_older_changes_are_no_drift_and_later_ones_are_read() -> None:
    older = parse_time("2026-01-05T16:59:59.999Z")
    later = parse_time("2026-01-05T17:00:01.000Z")
    assert echo_of_own_write("Update", older, "Update", WRITTEN, True) is not None
    assert echo_of_own_write("Create", older, "Void", WRITTEN, True) is not None
    assert echo_of_own_write("Delete", older, "Update", WRITTEN, False) is None
    assert echo_of_own_write("Merge", older, "Update", WRITTEN, False) is None
    assert echo_of_own_write("Update", later, "Update", WRITTEN, False) is None
    assert echo_of_own_write("Update", None, "Update", WRITTEN, False) is None
    assert echo_of_own_write("Update", older, None, None, False) is None


def test_a_change_announced_late_of_a_record_we_deleted_since_is_older() -> None:
    # The create's notification handled after our deletion was recorded: the deletion kept
    # the create's time (its answer has none), and came after it.
    at_create = parse_time("2026-01-05T17:00:00.250Z")
    assert echo_of_own_write("Create", at_create, "Delete", WRITTEN, False) == OLDER_VERSION
    assert echo_of_own_write("Update", at_create, "Delete", WRITTEN, True) == OLDER_VERSION
    # After the last time we know, it may be anyone's: read (QBO then says it is gone).
    later = parse_time("2026-01-05T17:00:01.000Z")
    assert echo_of_own_write("Update", later, "Delete", WRITTEN, False) is None


def test_our_deletion_comes_back_whenever_it_is_stamped() -> None:
    later = parse_time("2026-01-06T00:00:00.123Z")
    assert echo_of_own_write("Delete", later, "Delete", WRITTEN, True) == "our own deletion"
    assert echo_of_own_write("Delete", later, "Delete", None, False) == "our own deletion"
    assert classify("invoice", None, "3", None, "Delete", "Delete").change is None
    merged = classify("customer", None, "3", None, "Merge", "Delete").change
    assert merged is not None
    assert merged.kind == "merged"


def test_what_a_write_did_and_what_else_it_changed() -> None:
    assert write_operation("upserted", {"SyncToken": "0"}) == "Create"
    assert write_operation("upserted", {"SyncToken": "4"}) == "Update"  # adopted, updated
    assert write_operation("deactivated", {"SyncToken": "1"}) == "Update"
    assert write_operation("voided", {"SyncToken": "2"}) == "Void"
    assert write_operation("deleted", {"status": "Deleted", "Id": "7"}) == "Delete"
    answer = {"SyncToken": "0", "MetaData": {"LastUpdatedTime": "2026-01-05T09:00:00-08:00"}}
    assert last_updated(answer) == WRITTEN
    assert last_updated({"status": "Deleted"}) is None
    payment = owned_fields(
        "payment",
        {
            "CustomerRef": {"value": "9"},
            "Line": [{"Amount": 5, "LinkedTxn": [{"TxnId": "41", "TxnType": "Invoice"}]}],
        },
    )
    assert touched_by("payment", payment) == {("Customer", "9"), ("Invoice", "41")}
    invoice = owned_fields("invoice", {"CustomerRef": {"value": "9"}, "Line": []})
    assert touched_by("invoice", invoice) == {("Customer", "9")}
    assert touched_by("customer", owned_fields("customer", {})) == set()
    assert touched_by("invoice", None) == set()


def test_an_accountant_changing_the_terms_class_or_ship_to_is_drift() -> None:
    ours = owned_fields(
        "invoice",
        invoice(SalesTermRef={"value": "3"}, ClassRef={"value": "1"}, ShipAddr={"City": "Oakland"}),
    )
    theirs = invoice(
        "1", SalesTermRef={"value": "4"}, ClassRef={"value": "2"}, ShipAddr={"City": "Reno"}
    )
    verdict = classify("invoice", ours, "0", theirs)
    assert verdict.change is not None
    assert set(verdict.change.changes) == {"SalesTermRef.value", "ClassRef.value", "ShipAddr.City"}


def test_a_line_class_is_compared_only_where_a_line_has_one() -> None:
    plain = invoice()
    classed = invoice()
    classed["Line"][0]["SalesItemLineDetail"]["ClassRef"] = {"value": "2"}
    assert "ClassRef" not in owned_fields("invoice", plain)["Line"][0]
    assert owned_fields("invoice", classed)["Line"][0]["ClassRef"] == "2"
    verdict = classify(
        "invoice", owned_fields("invoice", plain), "0", {**classed, "SyncToken": "1"}
    )
    assert verdict.change is not None
    assert set(verdict.change.changes) == {"Line"}
