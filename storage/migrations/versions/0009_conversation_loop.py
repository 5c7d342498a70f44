"""conversation_suggestion, conversation_answer: the relationship conversation as a tracked event

Revision ID: 0009_conversation_loop
Revises: 0008_answer_changes
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0009_conversation_loop"
down_revision: str | None = "0008_answer_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("strain_since", storage.types.UTCDateTime(), nullable=True),
        sa.Column("domains", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("before", sa.Float(), nullable=True),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("first_shown_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("closed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("improved_at", storage.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"]),
        sa.ForeignKeyConstraint(["therapist_id"], ["therapist.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_suggestion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_suggestion_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_suggestion_therapist_id"), ["therapist_id"], unique=False
        )
    op.create_table(
        "conversation_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("answered_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["suggestion_id"], ["conversation_suggestion.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_answer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_answer_suggestion_id"), ["suggestion_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_answer_suggestion_id"))
    op.drop_table("conversation_answer")
    with op.batch_alter_table("conversation_suggestion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_suggestion_therapist_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_suggestion_client_id"))
    op.drop_table("conversation_suggestion")
