"""the monthly read meter: QBO calls per month, company and kind, folded from Redis; the
folds taken (each added once); the read allowance alerts sent (once per month and level)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qbo_call_usage",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month", "realm_id", "kind"),
    )
    op.create_table(
        "qbo_call_folds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "qbo_read_alerts",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reads", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", "level"),
    )


def downgrade() -> None:
    op.drop_table("qbo_read_alerts")
    op.drop_table("qbo_call_folds")
    op.drop_table("qbo_call_usage")
