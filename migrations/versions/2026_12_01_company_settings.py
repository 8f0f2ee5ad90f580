"""per-company settings, the history of their changes, and the companies' reference lists

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "company_settings",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", name=op.f("pk_company_settings")),
    )
    op.create_table(
        "company_settings_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("old_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_settings_changes")),
    )
    op.create_index(
        "ix_company_settings_changes_realm",
        "company_settings_changes",
        ["realm_id", "changed_at", "id"],
    )
    op.create_table(
        "reference_lists",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "kind", name=op.f("pk_reference_lists")),
    )


def downgrade() -> None:
    op.drop_table("reference_lists")
    op.drop_index("ix_company_settings_changes_realm", table_name="company_settings_changes")
    op.drop_table("company_settings_changes")
    op.drop_table("company_settings")
