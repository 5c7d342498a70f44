"""client: alias_key, unique per therapist, so aliases differing only in case cannot race in

Revision ID: 0003_client_alias_key
Revises: 0002_outbox_chat
Create Date: 2026-11-23 10:00:00

Aliases are compared ignoring case (NFKC, then case-folded). Until now only the code
checked that, so two invitations of "Alex" and "alex" at the same instant could both be
stored. The new column holds that comparison form and a unique constraint on
(therapist_id, alias_key) lets exactly one through.

Existing rows are filled in from their alias, in batches, by Python (SQLite's lower()
folds ASCII only). Rows that already collide (only a past race can have made them) must
not stop the upgrade: the oldest row (lowest id) keeps the plain key and every later one
gets "<key>~<id>", which no alias can produce ("~" is not allowed in aliases). Lookups by
alias are unaffected; a warning names the ids involved (never the alias), so the operator
can ask the therapist to tell the two apart.

The old unique constraint on (therapist_id, alias) stays: its uniqueness is now implied,
but it is the index behind every "a therapist's clients by alias" listing (digest, /clients).
"""

import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_client_alias_key"
down_revision: str | None = "0002_outbox_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("storage.migrations")

BATCH = 500
_client = sa.table(
    "client",
    sa.column("id", sa.Integer()),
    sa.column("therapist_id", sa.Integer()),
    sa.column("alias", sa.String()),
    sa.column("alias_key", sa.String()),
)


def key_of(alias: str) -> str:
    """The comparison form of an alias, as storage.repo.alias_key had it at this revision."""
    return unicodedata.normalize("NFKC", alias).casefold()


def _fill_keys(connection: sa.Connection) -> int:
    """Write every row's key, page by page (by id); returns how many keys had to be suffixed."""
    holders: dict[tuple[int, str], int] = {}  # (therapist, key) → the row that has it
    suffixed = 0
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(_client.c.id, _client.c.therapist_id, _client.c.alias)
            .where(_client.c.id > last_id)
            .order_by(_client.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return suffixed
        updates = []
        for client_id, therapist_id, alias in rows:
            key = key_of(alias)
            first = holders.get((therapist_id, key))
            if first is not None:
                key = f"{key}~{client_id}"
                while (therapist_id, key) in holders:
                    key += "~"
                suffixed += 1
                log.warning(
                    "client %s has the same alias (ignoring case) as client %s of the same "
                    "therapist; it keeps its alias and gets a distinct alias key",
                    client_id,
                    first,
                )
            holders[(therapist_id, key)] = client_id
            updates.append({"row_id": client_id, "key": key})
        connection.execute(
            sa.update(_client)
            .where(_client.c.id == sa.bindparam("row_id"))
            .values(alias_key=sa.bindparam("key")),
            updates,
        )
        last_id = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alias_key", sa.String(length=128), nullable=True))
    suffixed = _fill_keys(op.get_bind())
    if suffixed:
        log.warning("%d client alias keys were made distinct (see the lines above)", suffixed)
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.alter_column("alias_key", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint("uq_client_alias_key", ["therapist_id", "alias_key"])


def downgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_constraint("uq_client_alias_key", type_="unique")
        batch_op.drop_column("alias_key")
