"""Engine and sessions: SQLite (WAL) on one machine, PostgreSQL for several workers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import event, insert, update
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InvalidatePoolError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import HealthProbe


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the dispatcher read while a handler writes; busy_timeout makes a
    # second writer wait instead of failing; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# What a connection that cannot write says: SQLite opened the file while it was read-only
# (a full or remounted disk, a permission change) and stays read-only for good;
# PostgreSQL after a failover, still connected to a server that became a standby.
_READ_ONLY_ERRORS = ("readonly database", "read-only transaction")


def _is_read_only(error: BaseException | None) -> bool:
    """Whether an error says the connection cannot write."""
    return error is not None and any(marker in str(error) for marker in _READ_ONLY_ERRORS)


def _recycle_read_only(context: ExceptionContext) -> None:
    """Treat "cannot write" like a lost connection, so the pool opens fresh ones.

    SQLAlchemy throws away a connection whose error is a disconnect (and renews the
    pool); without this, a connection opened during a transient read-only spell would
    stay in the pool and fail every write until the process restarts.
    """
    if _is_read_only(context.original_exception):
        context.is_disconnect = True


# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS: Final = 5.0
_RETURNED_AT: Final = "alliance_returned_at"


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    """Pool "checkin": remember when the connection came back to the pool."""
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_if_idle(engine: AsyncEngine) -> Any:
    """A pool "checkout" listener: ping a connection that sat unused in the pool.

    ``pool_pre_ping`` pings every connection handed out; on asyncpg a ping is three round
    trips (BEGIN, an empty query, ROLLBACK), more than a check-in tap's own statements.
    Connections go stale while they sit unused (a server restart or failover, an idle
    timeout on the way); a connection back in use within seconds is not pinged, and if the
    server went away meanwhile the first statement fails as a disconnect, after which
    SQLAlchemy renews every pooled connection, as a failed ping does. A ping that fails
    renews the pool here too.
    """
    dialect = engine.sync_engine.dialect

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(cast(Any, error), dbapi_connection, None):
                raise InvalidatePoolError("the pooled connection did not answer") from error
            raise

    return ping


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine with the pragmas and pool settings each backend needs."""
    # Bound values (aliases, ciphertexts) must never reach a log line or a traceback.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        engine = create_async_engine(url, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            # Idle connections are pinged before use, busy ones not (_ping_if_idle).
            event.listen(engine.sync_engine, "checkin", _note_return)
            event.listen(engine.sync_engine, "checkout", _ping_if_idle(engine))
    event.listen(engine.sync_engine, "handle_error", _recycle_read_only)
    return engine


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        """Whether this database is SQLite (no row locks; leases instead)."""
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, without an ORM session: commits on success and
        rolls back on error, as ``session`` does.

        For the busiest path (a check-in tap), which runs only prebuilt Core statements:
        a session's set-up, identity map and unit of work cost more there than the
        statements themselves.
        """
        async with self.engine.begin() as connection:
            yield connection

    async def prove_write(self) -> None:
        """Write and commit the health probe's row; raises if the database takes no writes.

        ``SELECT 1`` succeeds on a read-only file, a full disk or a standby; only a
        committed write shows that answers can be stored. A connection that turns out
        read-only has renewed the pool (:func:`_recycle_read_only`), so the answer is
        asked once more of a fresh connection: the file may be writable again.
        """
        try:
            await self._write_probe()
        except OperationalError as exc:
            if not _is_read_only(exc):
                raise
            await self._write_probe()

    async def _write_probe(self) -> None:
        """Update (or create) the probe's single row."""
        now = datetime.now(UTC)
        async with self.session() as session:
            written = await session.exec(
                update(HealthProbe).where(col(HealthProbe.id) == 1).values(checked_at=now)
            )
            if written.rowcount == 0:
                await session.exec(insert(HealthProbe).values(id=1, checked_at=now))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
