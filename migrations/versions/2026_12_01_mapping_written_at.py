"""mappings keep what QBO answered their last write: MetaData.LastUpdatedTime, what it
did, and whether its webhook has been seen (the echo of our own write costs no read)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "entity_mappings", sa.Column("qbo_updated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "entity_mappings", sa.Column("qbo_last_write", sa.String(length=8), nullable=True)
    )
    op.add_column(
        "entity_mappings",
        sa.Column("qbo_echoed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index(
        "ix_entity_mappings_written",
        "entity_mappings",
        ["realm_id", "qbo_updated_at"],
        postgresql_where=sa.text("entity_type IN ('invoice', 'payment')"),
    )


def downgrade() -> None:
    op.drop_index("ix_entity_mappings_written", table_name="entity_mappings")
    op.drop_column("entity_mappings", "qbo_echoed")
    op.drop_column("entity_mappings", "qbo_last_write")
    op.drop_column("entity_mappings", "qbo_updated_at")
