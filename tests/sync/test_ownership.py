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
