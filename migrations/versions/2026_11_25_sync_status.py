"""sync status: event counts kept by triggers; indexes for lag, throughput and errors

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'retrying', 'waiting_dependency', 'syncing', 'waiting_connection')"

# Each statement on `events` appends its net change per (realm, status) to
# `event_count_deltas`: inserts only, so concurrent writers never wait on each other (an
# upsert of shared counter rows deadlocks multi-statement transactions). A worker cron folds
# the deltas into `event_counts` (`event_counts_compact()`).
APPEND = """
  INSERT INTO event_count_deltas (realm_id, status, n)
  SELECT realm_id, status, n FROM ({deltas}) c WHERE n <> 0;
"""
COMPACT = """
CREATE FUNCTION event_counts_compact() RETURNS bigint LANGUAGE sql AS $$
  WITH moved AS (DELETE FROM event_count_deltas RETURNING realm_id, status, n),
  folded AS (
    INSERT INTO event_counts (realm_id, status, n)
    SELECT realm_id, status, sum(n) FROM moved GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (realm_id, status) DO UPDATE SET n = event_counts.n + EXCLUDED.n
    RETURNING 1
  )
  SELECT count(*) FROM folded
$$
"""
DELTAS = {
    "insert": "SELECT realm_id, status, count(*) AS n FROM new_rows GROUP BY 1, 2",
    "update": (
        "SELECT realm_id, status, sum(d) AS n FROM ("
        " SELECT realm_id, status, 1 AS d FROM new_rows"
        " UNION ALL SELECT realm_id, status, -1 FROM old_rows) x GROUP BY 1, 2"
    ),
    "delete": "SELECT realm_id, status, -count(*) AS n FROM old_rows GROUP BY 1, 2",
}
TRANSITIONS = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}


def _create(kind: str) -> list[str]:
    body = APPEND.format(deltas=DELTAS[kind])
    return [
        f"CREATE FUNCTION event_counts_on_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {body} RETURN NULL; END $$",
        f"CREATE TRIGGER events_count_{kind} AFTER {kind.upper()} ON events"
        f" {TRANSITIONS[kind]} FOR EACH STATEMENT EXECUTE FUNCTION event_counts_on_{kind}()",
    ]


def _drop(kind: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS events_count_{kind} ON events",
        f"DROP FUNCTION IF EXISTS event_counts_on_{kind}()",
    ]


def upgrade() -> None:
    op.create_table(
        "event_counts",
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("realm_id", "status", name=op.f("pk_event_counts")),
    )
    op.create_table(
        "event_count_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_count_deltas")),
    )
    op.execute(
        "INSERT INTO event_counts (realm_id, status, n)"
        " SELECT realm_id, status, count(*) FROM events GROUP BY 1, 2"
    )
    op.execute(COMPACT)
    for kind in DELTAS:
        for statement in _create(kind):
            op.execute(statement)
    op.create_index(
        "ix_events_realm_open_received",
        "events",
        ["realm_id", "received_at"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_events_realm_synced",
        "events",
        ["realm_id", "synced_at"],
        postgresql_where=sa.text("synced_at IS NOT NULL"),
    )
    op.create_index(
        "ix_events_realm_failed",
        "events",
        ["realm_id", "updated_at"],
        postgresql_where=sa.text("last_error IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_events_realm_failed",
        table_name="events",
        postgresql_where=sa.text("last_error IS NOT NULL"),
    )
    op.drop_index(
        "ix_events_realm_synced",
        table_name="events",
        postgresql_where=sa.text("synced_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_events_realm_open_received", table_name="events", postgresql_where=sa.text(OPEN)
    )
    for kind in DELTAS:
        for statement in _drop(kind):
            op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS event_counts_compact()")
    op.drop_table("event_count_deltas")
    op.drop_table("event_counts")
