"""Where companies' settings are kept: the current set per realm and every change to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.connections.models import CompanySettingsRow, SettingsChange
from app.connections.settings import SETTING_NAMES, EffectiveSettings
from app.db import utcnow


@dataclass(frozen=True, slots=True)
class StoredSettings:
    values: Mapping[str, Any]  # CompanySettings.own(): only what the company set
    version: int  # 0: the company never set anything


async def stored_settings(
    session: AsyncSession, realm_id: str, *, lock: bool = False
) -> StoredSettings:
    """A company's own settings; with `lock`, the row stays locked until the transaction
    ends (a change reads, compares and writes under it)."""
    query = select(CompanySettingsRow).where(CompanySettingsRow.realm_id == realm_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        return StoredSettings({}, 0)
    return StoredSettings(dict(row.values), row.version)


async def effective_settings(
    session: AsyncSession, realm_id: str, env: Settings
) -> EffectiveSettings:
    """The values in effect for a company now: its own, else `env`'s."""
    stored = await stored_settings(session, realm_id)
    return EffectiveSettings.of(stored.values, env)


async def replace_settings(
    session: AsyncSession, realm_id: str, values: Mapping[str, Any], changed_by: str
) -> list[SettingsChange]:
    """Store `values` (CompanySettings.own()) as the company's whole set, and one change
    row per setting whose value differs (old or new None: the default). Returns the
    changes; none when nothing differs (then nothing is written)."""
    # The row exists before it is locked, so that two first changes at once queue on it.
    await session.execute(
        pg_insert(CompanySettingsRow)
        .values(realm_id=realm_id, values={}, version=0, updated_by=changed_by, updated_at=utcnow())
        .on_conflict_do_nothing()
    )
    current = await stored_settings(session, realm_id, lock=True)
    # Stamped once the lock is held: the history's order is the order the changes applied.
    now = utcnow()
    changes = [
        SettingsChange(
            realm_id=realm_id,
            name=name,
            old_value=current.values.get(name),
            new_value=values.get(name),
            changed_by=changed_by,
            changed_at=now,
        )
        for name in SETTING_NAMES
        if current.values.get(name) != values.get(name)
    ]
    if not changes:
        return []
    row = await session.get(CompanySettingsRow, realm_id)
    assert row is not None
    row.values = dict(values)
    row.version = current.version + 1
    row.updated_by = changed_by
    row.updated_at = now
    session.add_all(changes)
    return changes
