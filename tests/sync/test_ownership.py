"""The owned-fields table agrees with what the update builder leaves out."""

from __future__ import annotations

from app.sync.payloads import CREATE_ONLY_FIELDS
from app.sync.payloads.ownership import OWNED, Written


def test_the_fields_written_on_create_only_are_the_ones_updates_leave_out() -> None:
    create_only = {
        f.name for fields in OWNED.values() for f in fields if f.written is Written.CREATE
    }
    assert create_only == CREATE_ONLY_FIELDS


def test_every_numeric_field_is_compared() -> None:
    for fields in OWNED.values():
        assert all(f.compared for f in fields if f.numeric)


CALLER_FIELDS = {
    "customer": ("ParentRef", "Job", "Taxable", "TaxExemptionReasonId"),
    "invoice": (
        "ShipDate",
        "ShipAddr",
        "SalesTermRef",
        "BillEmail",
        "BillEmailCc",
        "BillEmailBcc",
        "CustomField",
        "ExchangeRate",
        "ClassRef",
        "DepartmentRef",
    ),
    "payment": ("ExchangeRate",),
}


def test_the_callers_fields_are_written_on_every_update_and_compared() -> None:
    for entity, names in CALLER_FIELDS.items():
        fields = {f.name: f for f in OWNED[entity]}
        for name in names:
            assert fields[name].written is Written.UPDATE, (entity, name)
            assert fields[name].compared, (entity, name)


def test_the_private_note_is_written_but_never_compared() -> None:
    note = next(f for f in OWNED["invoice"] if f.name == "PrivateNote")
    assert note.written is Written.UPDATE
    assert note.compared == ()  # it holds our marker, and QBO's "Voided" on a void
