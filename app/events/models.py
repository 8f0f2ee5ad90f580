"""The `events` table: every accepted event, and the outbox the workers drain."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import StrEnumColumn
from app.db import Base, utcnow


class EventStatus(StrEnum):
    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    SUPERSEDED = "superseded"
    RETRYING = "retrying"
    WAITING_DEPENDENCY = "waiting_dependency"
    WAITING_CONNECTION = "waiting_connection"
    DEAD = "dead"


# States a worker still has to act on. `next_attempt_at` is when to look again: the retry
# time, the deadline of a dependency wait, or the lease of a sync a killed worker left.
# The sweeper looks only at these.
DUE_STATUSES = (
    EventStatus.PENDING,
    EventStatus.RETRYING,
    EventStatus.WAITING_DEPENDENCY,
    EventStatus.SYNCING,
)
DUE_SQL = "status IN ('pending', 'retrying', 'waiting_dependency', 'syncing')"
# Not yet in QBO and not given up: what the lag of a realm is measured on.
OPEN_SQL = (
    "status IN ('pending', 'retrying', 'waiting_dependency', 'syncing', 'waiting_connection')"
)
# Ended: nothing will happen to them unless a dead one is replayed.
FINAL_STATUSES = (EventStatus.SYNCED, EventStatus.SUPERSEDED, EventStatus.DEAD)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        # The worker's per-entity queue, in apply order.
        Index(
            "ix_events_entity_order",
            "realm_id",
            "entity_type",
            "external_id",
            "occurred_at",
            "received_at",
        ),
        # The sweeper: due work only, so the index stays small however many events are synced.
        Index(
            "ix_events_due",
            "next_attempt_at",
            postgresql_where=text(DUE_SQL),
        ),
        # A realm's due records, for its pump.
        Index("ix_events_realm_due", "realm_id", "next_attempt_at", postgresql_where=text(DUE_SQL)),
        # /sync-status: lag (oldest open event), throughput, last success, last error.
        Index(
            "ix_events_realm_open_received",
            "realm_id",
            "received_at",
            postgresql_where=text(OPEN_SQL),
        ),
        Index(
            "ix_events_realm_synced",
            "realm_id",
            "synced_at",
            postgresql_where=text("synced_at IS NOT NULL"),
        ),
        Index(
            "ix_events_realm_failed",
            "realm_id",
            "updated_at",
            postgresql_where=text("last_error IS NOT NULL"),
        ),
        # Children released when the record they wait for is synced.
        Index(
            "ix_events_waiting_for",
            "realm_id",
            "waiting_for",
            postgresql_where=text("status = 'waiting_dependency'"),
        ),
        # Status counts and listings per realm, newest first.
        Index("ix_events_realm_status", "realm_id", "status"),
        Index("ix_events_received", "received_at", "id"),
        Index("ix_events_realm_received", "realm_id", "received_at", "id"),
        Index("ix_events_status_received", "status", "received_at", "id"),
        # /sync-status counts mismatches per company: only the few events that have one.
        Index(
            "ix_events_realm_mismatch",
            "realm_id",
            postgresql_where=text("mismatch IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    realm_id: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    status: Mapped[EventStatus] = mapped_column(
        StrEnumColumn(EventStatus, 24), default=EventStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # When the current run of failures began (throttling excluded); cleared on success.
    failing_since: Mapped[datetime | None]
    # How often a dead event was sent back to pending: part of its requestids, since QBO
    # answers a repeated requestid with its first answer, even a Fault.
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # `<entity_type>:<external_id>` of the record a waiting_dependency event waits for.
    waiting_for: Mapped[str | None] = mapped_column(String(120))
    qbo_id: Mapped[str | None] = mapped_column(String(32))
    synced_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # A synced document whose totals QBO booked differently from the caller's:
    # {"expected": {...}, "booked": {...}, "difference": {...}} (app.sync.totals).
    mismatch: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The last QBO request the engine sent for this event: {method, path, query, body}.
    sent_request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    @property
    def type(self) -> str:
        return f"{self.entity_type}.{self.operation}"


def payload_hash(body: dict[str, Any]) -> str:
    """Hash of the event as validated, so that formatting differences are not 'different bodies'."""
    content = {k: v for k, v in body.items() if k != "event_id"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
