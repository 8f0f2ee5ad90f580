"""drift: changes seen in QBO, drift found, unmapped records, CDC checkpoints; the owned
fields of each mapping's last write

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "entity_mappings",
        sa.Column("qbo_owned", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_table(
        "qbo_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("qbo_id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found_by", sa.String(length=8), nullable=False),
        sa.Column("record", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qbo_changes")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_qbo_changes_dedupe_key")),
    )
    op.create_index(
        "ix_qbo_changes_due",
        "qbo_changes",
        ["realm_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_qbo_changes_received", "qbo_changes", ["realm_id", "received_at"])
    op.create_table(
        "drift",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("qbo_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("qbo_sync_token", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found_by", sa.String(length=8), nullable=False),
        sa.Column("policy", sa.String(length=8), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("restore_event_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift")),
        sa.UniqueConstraint(
            "realm_id",
            "entity_type",
            "qbo_id",
            "kind",
            "qbo_sync_token",
            name=op.f("uq_drift_realm_id_entity_type_qbo_id_kind_qbo_sync_token"),
        ),
    )
    op.create_index("ix_drift_realm_detected", "drift", ["realm_id", "detected_at", "id"])
    op.create_index("ix_drift_detected", "drift", ["detected_at", "id"])
    op.create_table(
        "qbo_unmapped",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("qbo_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_operation", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "entity", "qbo_id", name=op.f("pk_qbo_unmapped")),
    )
    op.create_table(
        "cdc_checkpoints",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("changed_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("objects_seen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", name=op.f("pk_cdc_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("cdc_checkpoints")
    op.drop_table("qbo_unmapped")
    op.drop_index("ix_drift_detected", table_name="drift")
    op.drop_index("ix_drift_realm_detected", table_name="drift")
    op.drop_table("drift")
    op.drop_index("ix_qbo_changes_received", table_name="qbo_changes")
    op.drop_index("ix_qbo_changes_due", table_name="qbo_changes")
    op.drop_table("qbo_changes")
    op.drop_column("entity_mappings", "qbo_owned")
