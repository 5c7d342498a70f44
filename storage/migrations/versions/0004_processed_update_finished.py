"""processed_update: when an update's handling finished (a claim until then)

Revision ID: 0004_update_finished
Revises: 0003_client_alias_key
Create Date: 2026-11-22 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004_update_finished"
down_revision: str | None = "0003_client_alias_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # processed_at now marks when a worker took the update; finished_at when all its
    # handlers had run. Rows written before this change were finished when written.
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True))
    op.execute("UPDATE processed_update SET finished_at = processed_at")


def downgrade() -> None:
    with op.batch_alter_table("processed_update", schema=None) as batch_op:
        batch_op.drop_column("finished_at")
