"""One event's write as the engine hands it to the Applier (`Work`), what QBO answered
(`Applied`), and the write at a SyncToken that every update path ends in."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.connections.settings import EffectiveSettings
from app.core.failures import Category
from app.qbo import QboError, ReadPurpose
from app.sync.owned import QBO_ENTITIES
from app.sync.payloads import (
    CompanyContext,
    requestid,
    sparse_update,
)
from app.sync.realm import RealmApi, SentLog

# The Applier's log lines keep the logger name they have always had.
logger = logging.getLogger("app.sync.apply")

Json = dict[str, Any]


# Re-reads after 5010 before the event is given back to the backoff.
STALE_TRIES = 3


@dataclass(frozen=True, slots=True)
class Target:
    """The QBO record an entity is mapped to."""

    qbo_id: str
    sync_token: str


@dataclass(frozen=True, slots=True)
class Applied:
    qbo_id: str
    sync_token: str
    note: str | None = None
    # The record as QBO answered the write: what changes made in QBO are compared with.
    record: Json | None = None
    # A sales form whose totals QBO booked otherwise than the caller's (app.sync.apply).
    mismatch: Json | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """Everything one event's write needs; built by the engine."""

    event_id: uuid.UUID
    entity_type: str
    external_id: str
    operation: str
    payload: Json  # the stored envelope; `data` holds the entity
    target: Target | None
    refs: Mapping[tuple[str, str], str]  # (entity type, external id) -> QBO id of parents
    maybe_applied: bool
    context: CompanyContext
    # The company's settings in effect when the event was taken (app.connections.settings).
    settings: EffectiveSettings
    replays: int = 0
    attempt: int = 1  # for logs: 1 + the failed attempts so far
    # When the event arrived: no create of it can have reached QBO before.
    received_at: datetime | None = None
    # The writes of this try that left for QBO (app.sync.realm): the event keeps the last.
    sent: SentLog = field(default_factory=SentLog, compare=False, repr=False)

    @property
    def entity(self) -> str:
        return QBO_ENTITIES[self.entity_type]

    def rid(self, what: str) -> str:
        """The requestid of one write of this event; a replayed dead event writes anew."""
        return requestid(self.event_id, f"{what}/replay-{self.replays}" if self.replays else what)

    def rid_at(self, what: str, sync_token: str) -> str:
        """The requestid of a write of this event at a SyncToken (`update`, `void`, ...)."""
        return self.rid(f"{what}:{sync_token}")


async def write_at_token(
    api: RealmApi,
    work: Work,
    target: Target,
    build: Callable[[str, str], Json],
    what: str,
    operation: str = "save",
) -> Applied:
    """A write at the stored SyncToken; on 5010, re-read and re-send (bounded). The
    body holds only the fields we own, so an accountant's other edits survive."""
    token = target.sync_token
    for attempt in range(1, STALE_TRIES + 1):
        body = build(target.qbo_id, token)
        try:
            answer = await api.write(work.entity, body, work.rid_at(what, token), operation)
        except QboError as err:
            if err.category is not Category.STALE or attempt == STALE_TRIES:
                raise
            current = await api.read(work.entity, target.qbo_id, purpose=ReadPurpose.EXACTLY_ONCE)
            token = str(current["SyncToken"])
            logger.info("stale SyncToken; re-read %s", token, extra=log_fields(work))
            continue
        return Applied(
            str(answer.get("Id") or target.qbo_id),
            str(answer.get("SyncToken") or token),
            record=answer,
        )
    raise AssertionError("unreachable")


def sparse(body: Json) -> Callable[[str, str], Json]:
    """The sparse update of `body` at a given Id and SyncToken."""
    return lambda qbo_id, token: sparse_update(body, qbo_id, token)


def log_fields(work: Work) -> dict[str, Any]:
    return {
        "event_id": str(work.event_id),
        "entity_type": work.entity_type,
        "external_id": work.external_id,
        "attempt": work.attempt,
    }
