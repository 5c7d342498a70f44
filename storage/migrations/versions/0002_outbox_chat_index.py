"""outbox: index for the per-chat ordering check of the claim

Revision ID: 0002_outbox_chat
Revises: 0001
Create Date: 2026-11-22 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_outbox_chat"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The claim takes only the oldest waiting message of each chat; this index answers
    # "is anything older still waiting for this chat?" without scanning the outbox.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_chat_status", ["chat_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat_status")
