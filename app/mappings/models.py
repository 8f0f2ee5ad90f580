"""The `entity_mappings` table: a caller's external id <-> the QBO Id and SyncToken it became."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

# One caller record per QBO record (DESIGN invariant 9): two workers can never both link
# one QBO record; the engine reads a violation as "taken".
QBO_ID_INDEX = "uq_entity_mappings_qbo"


class EntityMapping(Base):
    __tablename__ = "entity_mappings"
    __table_args__ = (
        UniqueConstraint("realm_id", "entity_type", "external_id"),
        # Webhooks and CDC arrive with QBO ids.
        Index(QBO_ID_INDEX, "realm_id", "entity_type", "qbo_id", unique=True),
        # A customer's or invoice's change announced in the second of our write of an invoice
        # or payment that moved its balance (app.drift.changes.touched_by).
        Index(
            "ix_entity_mappings_written",
            "realm_id",
            "qbo_updated_at",
            postgresql_where=text("entity_type IN ('invoice', 'payment')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    qbo_id: Mapped[str] = mapped_column(String(32))
    sync_token: Mapped[str] = mapped_column(String(32))
    last_payload_hash: Mapped[str | None] = mapped_column(String(64))
    last_event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL")
    )
    # The fields we own as QBO answered our last write (app.sync.owned.owned_fields).
    qbo_owned: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # MetaData.LastUpdatedTime (UTC) of QBO's answer to our last write that carried one, and
    # what that last write did (Create, Update, Void, Delete, as webhooks name changes):
    # the webhook of our own write is recognised by them, with no read (app.drift.changes).
    qbo_updated_at: Mapped[datetime | None]
    qbo_last_write: Mapped[str | None] = mapped_column(String(8))
    # The webhook of that write has been seen (a second one in the same second is not ours).
    qbo_echoed: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
