"""therapist: deactivated_at, set while the admin has deactivated the therapist

Revision ID: 0007_therapist_deactivated
Revises: 0006_alias_reuse
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007_therapist_deactivated"
down_revision: str | None = "0006_alias_reuse"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing therapist stays active (NULL).
    with op.batch_alter_table("therapist", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("therapist", schema=None) as batch_op:
        batch_op.drop_column("deactivated_at")
