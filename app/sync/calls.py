"""Step 2 of a sync, no transaction open: the QBO calls of one realm, and the write of one
event through the Applier, ended in an outcome."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.keys import EntityKey
from app.mappings import repository as mapping_store
from app.sync.apply import Applier
from app.sync.deps import SyncDeps
from app.sync.outcomes import Done, Outcome, log_extra, outcome_of_error
from app.sync.realm import RealmApi, SentLog
from app.sync.work import Work

# The engine's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.engine")


def realm_api(deps: SyncDeps, realm_id: str, sent: SentLog | None = None) -> RealmApi:
    """The realm's QBO calls; the writes that leave are noted in `sent`, when given."""
    return RealmApi(
        deps.settings,
        deps.keeper,
        realm_id,
        deps.transport,
        deps.budget,
        deps.http,
        deps.metrics,
        sent,
        meter=deps.meter,
    )


def applier_for(deps: SyncDeps, realm_id: str, sent: SentLog | None = None) -> Applier:
    async def mapped_elsewhere(entity_type: str, qbo_id: str, external_id: str) -> bool:
        async with AsyncSession(deps.engine) as session:
            other = await mapping_store.holder_of(
                session, realm_id, entity_type, qbo_id, besides=external_id
            )
        return other is not None

    async def creating_elsewhere(entity_type: str, name: str, external_id: str) -> bool:
        # Names are compared as QBO compares them: without case, and as sent (`clean_name`).
        field = "display_name" if entity_type == "customer" else "name"
        limit = 500 if entity_type == "customer" else 100
        async with AsyncSession(deps.engine) as session:
            return await mapping_store.creating_under_name(
                session,
                realm_id,
                entity_type,
                name,
                name_field=field,
                limit=limit,
                besides=external_id,
            )

    return Applier(
        deps.lookups,
        realm_api(deps, realm_id, sent),
        mapped_elsewhere,
        creating_elsewhere,
    )


async def call_qbo(deps: SyncDeps, work: Work, key: EntityKey) -> Outcome:
    # What leaves is noted in the work: the event keeps the last write sent (app.sync.recording).
    applier = applier_for(deps, key.realm_id, work.sent)
    try:
        applied = await applier.apply(work)
    except Exception as err:
        return await outcome_of_error(deps, err, work, key.realm_id)
    logger.info("synced", extra={**log_extra(work, key.realm_id), "qbo_id": applied.qbo_id})
    return Done(applied)
