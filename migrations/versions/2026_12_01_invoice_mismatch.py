"""what a synced document's totals booked against the caller's, and the last request sent

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events", sa.Column("mismatch", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "events",
        sa.Column("sent_request", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    # /sync-status counts mismatches per company: only the few synced events that have one.
    op.create_index(
        "ix_events_realm_mismatch",
        "events",
        ["realm_id"],
        postgresql_where=sa.text("mismatch IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_realm_mismatch", table_name="events")
    op.drop_column("events", "sent_request")
    op.drop_column("events", "mismatch")
