"""client: an alias may be given again, and one person may hold several records

Revision ID: 0006_alias_reuse
Revises: 0005_update_inbox
Create Date: 2026-12-03 14:00:00

Identity rests on the person, never on the alias. When a therapist gives an alias again
after its client left, the former client's record keeps its history and its link to that
person's Telegram account, and a different person gets a new record under the alias. So:

- (therapist_id, alias) is no longer unique: two records may carry the alias "alex", one
  current, one former. Uniqueness moves entirely to (therapist_id, alias_key), which is
  already unique (0003): a former record's key is released as "<key>~<date it left>",
  a form no alias can produce ("~" is not allowed in aliases). The index stays, plain.
- client.telegram_user_id is no longer unique: a person who left one therapist and
  joined another keeps both records (and their /mydata and /delete cover both). At most
  one of them takes part at a time; the code sees to that.

Downgrading puts both unique constraints back; it stops with a clear message when data
written under this revision would break them (an alias given again, a person with two
records), since resolving that means choosing whose history to cut loose.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_alias_reuse"
down_revision: str | None = "0005_update_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Gives the unnamed unique constraint of 0001 a name SQLite's batch mode can drop by.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _user_constraint(bind: sa.Connection) -> str:
    """The name of the unique constraint on client.telegram_user_id as this database has it."""
    for constraint in sa.inspect(bind).get_unique_constraints("client"):
        if constraint["column_names"] == ["telegram_user_id"] and constraint["name"]:
            return str(constraint["name"])
    return "uq_client_telegram_user_id"


def upgrade() -> None:
    bind = op.get_bind()
    name = _user_constraint(bind)
    with op.batch_alter_table("client", schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.drop_constraint("uq_client_alias", type_="unique")
        batch_op.drop_constraint(name, type_="unique")
        batch_op.create_index("ix_client_therapist_alias", ["therapist_id", "alias"])
        batch_op.create_index("ix_client_telegram_user_id", ["telegram_user_id"])


_TWICE = {
    "alias": "SELECT COUNT(*) FROM (SELECT therapist_id, alias FROM client"
    " GROUP BY therapist_id, alias HAVING COUNT(*) > 1) AS twice",
    "person": "SELECT COUNT(*) FROM (SELECT telegram_user_id FROM client"
    " WHERE telegram_user_id IS NOT NULL GROUP BY telegram_user_id HAVING COUNT(*) > 1) AS twice",
}


def _duplicates(bind: sa.Connection, kind: str) -> int:
    """How many aliases (or people) have more than one record."""
    return int(bind.execute(sa.text(_TWICE[kind])).scalar_one())


def downgrade() -> None:
    bind = op.get_bind()
    if _duplicates(bind, "alias") or _duplicates(bind, "person"):
        raise RuntimeError(
            "cannot downgrade below 0006_alias_reuse: some alias was given to a new person "
            "or some person holds two client records; erase or rename those records first"
        )
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_index("ix_client_telegram_user_id")
        batch_op.drop_index("ix_client_therapist_alias")
        batch_op.create_unique_constraint("uq_client_alias", ["therapist_id", "alias"])
        batch_op.create_unique_constraint("uq_client_telegram_user_id", ["telegram_user_id"])
