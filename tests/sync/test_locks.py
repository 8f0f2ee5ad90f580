"""The entity lock keys: stable, 64-bit signed, one per record (pure)."""

from __future__ import annotations

from app.core.keys import EntityKey
from app.sync.locks import lock_id


def test_a_record_always_gets_the_same_signed_64_bit_key() -> None:
    key = EntityKey("r1", "customer", "c1")
    assert lock_id(key) == lock_id(EntityKey("r1", "customer", "c1"))
    assert -(2**63) <= lock_id(key) < 2**63


def test_records_of_other_realms_types_or_ids_get_other_keys() -> None:
    keys = [
        EntityKey("r1", "customer", "c1"),
        EntityKey("r2", "customer", "c1"),
        EntityKey("r1", "item", "c1"),
        EntityKey("r1", "customer", "c2"),
    ]
    assert len({lock_id(k) for k in keys}) == len(keys)
