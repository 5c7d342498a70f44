"""update_inbox: polled updates written down before they are confirmed to Telegram;
health_probe: the row /healthz writes to

Revision ID: 0005_update_inbox
Revises: 0004_update_finished
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0005_update_inbox"
down_revision: str | None = "0004_update_finished"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "update_inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_update_inbox_received_at", ["received_at"], unique=False)
        batch_op.create_index("ix_update_inbox_finished_at", ["finished_at"], unique=False)
    op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("health_probe")
    with op.batch_alter_table("update_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_update_inbox_finished_at")
        batch_op.drop_index("ix_update_inbox_received_at")
    op.drop_table("update_inbox")
