"""Tables of changes made in QBO: each sighting (webhook or CDC), the drift found, the
records QBO holds that we do not map, and each realm's CDC checkpoint."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import StrEnumColumn
from app.db import Base, utcnow


class ChangeStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"


class FoundBy(StrEnum):
    WEBHOOK = "webhook"
    CDC = "cdc"


class QboChange(Base):
    """One sighting of a change in QBO, deduplicated by `dedupe_key` (the CloudEvents id;
    realm, entity, id, operation and time for legacy webhooks and CDC)."""

    __tablename__ = "qbo_changes"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index(
            "ix_qbo_changes_due",
            "realm_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_qbo_changes_received", "realm_id", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    realm_id: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(40))  # QBO's name: Customer, Invoice, ...
    qbo_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))  # Create, Update, Delete, Merge, Void
    changed_at: Mapped[datetime | None]
    found_by: Mapped[str] = mapped_column(String(8))
    # CDC answers carry the whole record; webhooks do not (it is read from QBO).
    record: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[ChangeStatus] = mapped_column(
        StrEnumColumn(ChangeStatus, 8), default=ChangeStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class Drift(Base):
    """A change made in QBO to a record we own: what changed, how it was found, what the
    policy did. One row per record version and kind, however often it was sighted."""

    __tablename__ = "drift"
    __table_args__ = (
        UniqueConstraint("realm_id", "entity_type", "qbo_id", "kind", "qbo_sync_token"),
        Index("ix_drift_realm_detected", "realm_id", "detected_at", "id"),
        Index("ix_drift_detected", "detected_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    qbo_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # edited, voided, deleted, merged, inactive
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The version of the record the drift was seen in ("" once it is gone).
    qbo_sync_token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime | None]
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    found_by: Mapped[str] = mapped_column(String(8))
    policy: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(100))
    restore_event_id: Mapped[uuid.UUID | None]


class UnmappedRecord(Base):
    """A record QBO holds that no caller's event made: counted, never imported."""

    __tablename__ = "qbo_unmapped"

    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    qbo_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_operation: Mapped[str] = mapped_column(String(16))


class CdcCheckpoint(Base):
    """How far CDC has looked in a realm: every change before `changed_since` is recorded."""

    __tablename__ = "cdc_checkpoints"

    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    changed_since: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    objects_seen: Mapped[int] = mapped_column(BigInteger, default=0)
