"""Alembic environment: runs migrations on the async engine of the configured URL."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from storage.db import make_engine
from storage.models import metadata

config = context.config
if config.config_file_name is not None:
    # Alembic's own command line (alembic.ini): its log lines say what it applies.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    """The database: the URL the bot passes in, or, for Alembic's own command line
    (alembic.ini at the project root), DATABASE_URL from the environment or .env."""
    given = config.get_main_option("sqlalchemy.url")
    if given:
        return given
    from bot.settings import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        compare_type=True,
        on_version_apply=_check_foreign_keys if sqlite else None,
    )
    with context.begin_transaction():
        context.run_migrations()


def _check_foreign_keys(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Fail (and so roll back) a SQLite migration that left a reference dangling.

    Enforcement is off while migrating (see _transactional_ddl), so every reference is
    checked at the end of each migration, inside its transaction, as SQLite's documented
    table-rebuild procedure does.
    """
    assert ctx.connection is not None
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise RuntimeError(f"migration left {len(broken)} dangling references in {tables}")


def _transactional_ddl(engine: Engine) -> None:
    """Run each SQLite migration in one real transaction (SQLAlchemy's documented recipe).

    The sqlite3 driver commits every CREATE/ALTER on its own, so a process killed in the
    middle of a migration would leave half a schema that the next upgrade trips over.
    Taking over BEGIN makes the DDL and the alembic_version update one atomic step, as
    PostgreSQL does by itself.

    Foreign keys are not enforced on this connection (a pragma SQLite ignores inside a
    transaction, so it is set on connecting): batch migrations rebuild a table by copying
    it and dropping the original, and with enforcement on, dropping a table that other
    rows refer to fails. _check_foreign_keys checks every reference before the commit.
    """

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _run_async() -> None:
    engine = make_engine(_url())
    if engine.dialect.name == "sqlite":
        _transactional_ddl(engine.sync_engine)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    """Emit SQL without a connection (alembic --sql)."""
    context.configure(
        url=_url(),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(_run_async())
