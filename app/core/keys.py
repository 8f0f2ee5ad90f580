"""The key of one record of one company: what events, mappings, hints and locks share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EntityKey:
    """One record of one company: the unit a worker syncs."""

    realm_id: str
    entity_type: str
    external_id: str
