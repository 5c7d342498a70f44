"""PostgreSQL connections that died while pooled: one that sat unused is checked before
it is handed out, so the next statement just works; one back in use within seconds is
not checked (a check is three round trips, more than a check-in tap's statements), and if
its server went away meanwhile, that one statement fails as a disconnect and the pool
is renewed for the next (storage.db._ping_if_idle)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage import db as storage_db
from storage.db import Database, is_sqlite


async def _backend_pid(db: Database) -> int:
    """The server process behind the pooled connection a session gets."""
    async with db.transaction() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _cut_off(db: Database, pid: int) -> None:
    """The server ends that connection (as a restart or a failover would)."""
    async with db.transaction() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """The PostgreSQL database of the run (SQLite has no server to lose)."""
    if is_sqlite(database_url):
        pytest.skip("a pooled SQLite connection is a file handle: nothing to go stale")
    return database_url


async def test_a_connection_that_sat_unused_is_checked_and_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended a pooled connection while it was unused: the next session gets
    a working connection without any error."""
    db = Database(postgres_url, pool_size=1, max_overflow=1)
    try:
        first = await _backend_pid(db)
        killer = Database(postgres_url)
        await _cut_off(killer, first)
        await killer.dispose()
        # Any time in the pool counts as idle now (instead of waiting the real seconds).
        monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()


async def test_a_connection_back_in_use_at_once_is_not_checked(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the check, the first statement on a connection cut off a moment ago
    fails as a disconnect; the pool is renewed and the next statement works."""
    db = Database(postgres_url, pool_size=1, max_overflow=1)
    try:
        monkeypatch.setattr(storage_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
        first = await _backend_pid(db)
        killer = Database(postgres_url)
        await _cut_off(killer, first)
        await killer.dispose()
        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(db)
        assert failed.value.connection_invalidated
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()
