"""sync engine: failure runs, dependency waits, swept states

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DUE = "status IN ('pending', 'retrying')"
NEW_DUE = "status IN ('pending', 'retrying', 'waiting_dependency', 'syncing')"


def upgrade() -> None:
    op.add_column("events", sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("waiting_for", sa.String(length=120), nullable=True))
    op.add_column("events", sa.Column("replays", sa.Integer(), server_default="0", nullable=False))
    op.drop_index("ix_events_due", table_name="events", postgresql_where=sa.text(OLD_DUE))
    op.create_index(
        "ix_events_due", "events", ["next_attempt_at"], postgresql_where=sa.text(NEW_DUE)
    )
    op.create_index(
        "ix_events_realm_due",
        "events",
        ["realm_id", "next_attempt_at"],
        postgresql_where=sa.text(NEW_DUE),
    )
    op.create_index(
        "ix_events_waiting_for",
        "events",
        ["realm_id", "waiting_for"],
        postgresql_where=sa.text("status = 'waiting_dependency'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_events_waiting_for",
        table_name="events",
        postgresql_where=sa.text("status = 'waiting_dependency'"),
    )
    op.drop_index("ix_events_realm_due", table_name="events", postgresql_where=sa.text(NEW_DUE))
    op.drop_index("ix_events_due", table_name="events", postgresql_where=sa.text(NEW_DUE))
    op.create_index(
        "ix_events_due", "events", ["next_attempt_at"], postgresql_where=sa.text(OLD_DUE)
    )
    op.drop_column("events", "replays")
    op.drop_column("events", "waiting_for")
    op.drop_column("events", "failing_since")
