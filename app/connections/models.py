"""The `connections` and `oauth_states` tables: a QBO company per realm; pending OAuth starts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.columns import StrEnumColumn
from app.db import Base, utcnow


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class Connection(Base):
    __tablename__ = "connections"
    __table_args__ = (
        # The refresh cron looks for active connections whose access token expires soon.
        Index(
            "ix_connections_refresh_due",
            "access_token_expires_at",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[str] = mapped_column(String(32), unique=True)
    environment: Mapped[str] = mapped_column(String(16))
    status: Mapped[ConnectionStatus] = mapped_column(
        StrEnumColumn(ConnectionStatus, 16), default=ConnectionStatus.ACTIVE
    )
    company_name: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(8))
    company_info: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    preferences: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_expires_at: Mapped[datetime | None]
    refresh_token_hard_expires_at: Mapped[datetime | None]
    last_refreshed_at: Mapped[datetime | None]
    refresh_failures: Mapped[int] = mapped_column(Integer, default=0)
    connected_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OAuthState(Base):
    __tablename__ = "oauth_states"
    __table_args__ = (Index("ix_oauth_states_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Only a hash is kept: the state travels through a browser and is a one-time credential.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CompanySettingsRow(Base):
    """A company's own settings (app.connections.settings.CompanySettings, without the
    defaults), kept by realm: disconnecting and reconnecting the company keeps them."""

    __tablename__ = "company_settings"

    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Raised by every change: a worker's cached effective settings name the version they are.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SettingsChange(Base):
    """One setting of one company changed: who (the key's name), when, old and new value
    (JSON null: the default)."""

    __tablename__ = "company_settings_changes"
    __table_args__ = (Index("ix_company_settings_changes_realm", "realm_id", "changed_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    realm_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferenceList(Base):
    """A company's list of one kind (accounts, tax codes, payment methods, classes,
    departments, terms) as last read from QBO, shared by every process."""

    __tablename__ = "reference_lists"

    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
