"""A database that is read-only for a while: writes fail, /healthz says so, and both
recover by themselves once it is writable again — no restart.

SQLite opens a file it cannot write read-only, silently, and such a connection stays
read-only even after the file is writable again; pooled, it would fail every write
until a restart, while ``SELECT 1`` kept the health check green. The file is made
read-only for real with ``chattr +i`` (which even root cannot write through); where
that is not allowed, each new connection is opened with ``PRAGMA query_only`` during
the spell, which fails writes the same way ("attempt to write a readonly database").
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.clock import ManualClock
from bot.services import Services
from bot.settings import load_settings
from bot.webhook import make_app
from storage.crypto import Cipher, generate_key
from storage.db import Database, is_sqlite


def _chattr_works(folder: Path) -> bool:
    """Whether this machine lets us make a file immutable (root, a supporting filesystem)."""
    probe = folder / "probe"
    probe.write_text("x")
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    if done.returncode != 0:
        return False
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    return True


@contextlib.contextmanager
def read_only(db: Database, path: Path, real: bool) -> Iterator[None]:
    """The database file is read-only for new connections while inside."""
    if real:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return

    def query_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    event.listen(db.engine.sync_engine, "connect", query_only)
    try:
        yield
    finally:
        event.remove(db.engine.sync_engine, "connect", query_only)


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    """Services on the test's SQLite database."""
    if not is_sqlite(database_url):
        pytest.skip("the read-only file is SQLite's failure")
    key = generate_key()
    settings = load_settings(database_url=database_url, encryption_keys=key)
    built = Services(
        settings=settings,
        db=Database(database_url),
        clock=ManualClock(datetime(2026, 6, 2, 7, 0, tzinfo=UTC)),
        cipher=Cipher.from_setting(key),
    )
    yield built
    await built.db.dispose()


async def _health(client: TestClient[Any, Any]) -> int:
    async with client.get("/healthz") as response:
        return response.status


async def test_a_read_only_spell_heals_without_a_restart(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    """While read-only: writes fail and /healthz answers 503 though reads work. Writable
    again: the health check's write succeeds and so does every later write."""
    db = services.db
    path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
    real = _chattr_works(tmp_path)
    async with TestClient(TestServer(make_app(services))) as client:
        assert await _health(client) == 200
        # Connections opened before the spell can still write; the harm is done by
        # those opened during it, so the pool starts empty.
        await db.dispose()
        with read_only(db, path, real):
            assert await _health(client) == 503, "a read-only database is not healthy"
            with pytest.raises(OperationalError, match="readonly database"):
                await db.prove_write()
            async with db.session() as session:
                assert (await session.exec(_select_one())).one() == 1, "reads still work"
        # Writable again: the connections opened meanwhile are not reused.
        assert await _health(client) == 200
        for _ in range(3):
            await db.prove_write()


def _select_one() -> Any:
    from sqlmodel import select

    return select(1)
