"""Callbacks of API key owners, the notices queued for them, and every delivery attempt.

`callback_deliveries` is an outbox: a notice is inserted in the same transaction as the state
change it reports, and the delivery job sends it after commit, at least once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import StrEnumColumn
from app.db import Base, utcnow


class NoticeKind(StrEnum):
    EVENT_SYNCED = "event.synced"
    EVENT_DEAD = "event.dead"
    INVOICE_MISMATCH = "invoice.mismatch"
    DRIFT_FOUND = "drift.found"
    CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
    # The month's QBO read allowance reached 80, 95 or 100 % (to every callback).
    READS_ALERT = "reads.alert"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Callback(Base):
    """Where the notices of one source (an API key's name) go, and the secret that signs them."""

    __tablename__ = "callbacks"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Encrypted with TOKEN_ENCRYPTION_KEYS, like QBO tokens: a stolen dump cannot sign notices.
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CallbackDelivery(Base):
    """One notice to one source, until it is delivered or given up."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (
        # The delivery job: due pending notices only, so the index stays small.
        Index(
            "ix_callback_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # GET /callbacks/deliveries: a source's notices, newest first.
        Index("ix_callback_deliveries_source_created", "source", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumColumn(DeliveryStatus, 16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When to try next; while a worker is sending, its lease (so a killed worker's send is
    # tried again).
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class CallbackAttempt(Base):
    """One try to deliver a notice: when, what the receiver answered, how long it took."""

    __tablename__ = "callback_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("callback_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
