"""one caller record per QBO record: (realm_id, entity_type, qbo_id) is unique in
entity_mappings

Two workers can no longer both link one QBO record to two external ids (DESIGN invariant
9). Mappings that already share a QBO record (the name-adoption defect of issue 14) are not
guessed apart: the upgrade stops and names them, so that an operator decides which
external id keeps the record (delete the other mappings; their next event creates their
own QBO records).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED = """
SELECT realm_id, entity_type, qbo_id, string_agg(external_id, ', ' ORDER BY created_at) AS ids
FROM entity_mappings
GROUP BY realm_id, entity_type, qbo_id
HAVING count(*) > 1
ORDER BY realm_id, entity_type, qbo_id
LIMIT 20
"""


def upgrade() -> None:
    shared = op.get_bind().execute(sa.text(SHARED)).all()
    if shared:
        lines = "\n".join(
            f"  realm {r.realm_id} {r.entity_type} {r.qbo_id}: {r.ids}" for r in shared
        )
        raise RuntimeError(
            "entity_mappings links one QBO record to several external ids; keep one mapping "
            "per QBO record (delete the others) and run the upgrade again:\n" + lines
        )
    op.drop_index("ix_entity_mappings_qbo", table_name="entity_mappings")
    op.create_index(
        "uq_entity_mappings_qbo",
        "entity_mappings",
        ["realm_id", "entity_type", "qbo_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_entity_mappings_qbo", table_name="entity_mappings")
    op.create_index(
        "ix_entity_mappings_qbo",
        "entity_mappings",
        ["realm_id", "entity_type", "qbo_id"],
        unique=False,
    )
