"""Migrations: one head, from empty to head, down and up again, models equal to the schema,
and a migration killed half-way leaves nothing the next upgrade trips over."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import make_engine
from storage.migrate import current_revision, downgrade, head_revisions, upgrade
from storage.models import alias_key, metadata
from storage.types import UTCDateTime

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN = os.environ.get(
    "ALLIANCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("ALLIANCE_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


async def _pg(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"alliance_m_{uuid.uuid4().hex[:12]}"
    try:
        await _pg(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but unreachable: {exc}")
        pytest.skip("PostgreSQL not reachable")
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _schema_diff(url: str) -> list[Any]:
    def compare(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def test_the_migrations_have_a_single_head() -> None:
    """Two revisions written in parallel must be merged before release."""
    assert len(head_revisions()) == 1, head_revisions()


async def test_upgrade_from_empty_then_down_and_up_again_matches_the_models(
    empty_url: str,
) -> None:
    """Empty → head gives exactly the models' schema; head → base removes every table;
    base → head again gives the same schema."""
    await asyncio.to_thread(upgrade, empty_url)
    assert await current_revision(empty_url) == head_revisions()[0]
    assert await _schema_diff(empty_url) == []
    await asyncio.to_thread(downgrade, empty_url, "base")
    assert await _tables(empty_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, empty_url)
    assert await _schema_diff(empty_url) == []


KILL_MID_MIGRATION = """
import os, signal, sys
from alembic.operations import Operations
original = Operations.create_table
made = []
def create_table(self, *args, **kwargs):
    made.append(args[0])
    if len(made) == 4:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 half-way through the first revision
    return original(self, *args, **kwargs)
Operations.create_table = create_table
from storage.migrate import upgrade
upgrade(sys.argv[1])
"""


async def test_a_migration_killed_half_way_is_simply_run_again(empty_url: str) -> None:
    """kill -9 after three tables of the first revision: the database is as before (one
    transaction per migration, on SQLite too), and the next upgrade completes."""
    process = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", KILL_MID_MIGRATION, empty_url],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL
    assert await current_revision(empty_url) is None
    assert await _tables(empty_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, empty_url)
    assert await _schema_diff(empty_url) == []


def test_ci_runs_every_backend() -> None:
    """Under CI the PostgreSQL half of the suite may not be switched off (nor skipped:
    the database fixtures fail instead of skipping when it is unreachable)."""
    if not os.environ.get("CI"):
        pytest.skip("only meaningful under CI")
    assert "postgres" in BACKENDS and "sqlite" in BACKENDS


# ------------------------------------------------- 0003: alias keys for existing clients

BEFORE_ALIAS_KEY = "0002_outbox_chat"
WHEN = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
_therapist_rows = sa.table(
    "therapist",
    *(sa.column(n, sa.Integer()) for n in ("id", "digest_weekday")),
    *(sa.column(n, sa.BigInteger()) for n in ("telegram_user_id", "chat_id")),
    *(sa.column(n, sa.String()) for n in ("name", "locale", "timezone", "digest_time")),
    *(sa.column(n, sa.Boolean()) for n in ("locale_chosen", "rates_sessions")),
    sa.column("created_at", UTCDateTime()),
)
_client_rows = sa.table(
    "client",
    *(sa.column(n, sa.Integer()) for n in ("id", "therapist_id")),
    *(sa.column(n, sa.String()) for n in ("alias", "status", "locale", "timezone")),
    sa.column("locale_chosen", sa.Boolean()),
    sa.column("created_at", UTCDateTime()),
)
_session_rows = sa.table(
    "therapy_session",
    *(sa.column(n, sa.Integer()) for n in ("id", "client_id")),
    sa.column("source", sa.String()),
    *(sa.column(n, UTCDateTime()) for n in ("ended_at", "created_at")),
)
# Only a race could have stored these; ids fixed so the expected keys can be written out.
RACED = {
    1: (1, "Alex"),
    2: (1, "alex"),
    3: (1, "Bob"),
    4: (1, "ALEX"),
    5: (1, unicodedata.normalize("NFD", "José")),
    6: (1, "JOSÉ"),
    7: (2, "alex"),  # another therapist's alex: no collision
}
EXPECTED_KEYS = {1: "alex", 2: "alex~2", 3: "bob", 4: "alex~4", 5: "josé", 6: "josé~6", 7: "alex"}
MANY = 1200  # more than one page of the backfill


async def _seed_before_alias_key(url: str) -> None:
    engine = make_engine(url)
    therapist = {
        "digest_weekday": 0,
        "name": "Dr. Invented",
        "locale": "en",
        "timezone": "UTC",
        "digest_time": "08:00",
        "locale_chosen": False,
        "rates_sessions": False,
        "created_at": WHEN,
    }
    client = {"status": "active", "locale": "en", "timezone": "UTC", "locale_chosen": False}
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(_therapist_rows),
                [dict(therapist, id=t, telegram_user_id=t, chat_id=t) for t in (1, 2)],
            )
            raced = [
                dict(client, id=i, therapist_id=t, alias=a, created_at=WHEN)
                for i, (t, a) in RACED.items()
            ]
            # Many more for therapist 2, with two collisions on later pages ("C7" ~ "c7").
            many = [f"c{n}" for n in range(MANY)] + ["C7", "C1100"]
            more = [
                dict(client, id=100 + n, therapist_id=2, alias=a, created_at=WHEN)
                for n, a in enumerate(many)
            ]
            await connection.execute(sa.insert(_client_rows), raced + more)
            await connection.execute(
                sa.insert(_session_rows),
                [
                    {
                        "id": s,
                        "client_id": c,
                        "source": "manual",
                        "ended_at": WHEN,
                        "created_at": WHEN,
                    }
                    for s, c in ((1, 4), (2, 7))
                ],
            )
    finally:
        await engine.dispose()


async def _select(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(r) for r in (await connection.execute(sa.text(sql))).all()]
    finally:
        await engine.dispose()


async def test_existing_clients_get_their_alias_keys_and_raced_duplicates_do_not_stop_it(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading a database with clients (on every engine): each gets the key the code
    compares by; where a past race stored "Alex" and "alex" for one therapist, the oldest
    keeps the key, later ones get "<key>~<id>", and a warning names ids, never aliases.
    Rows that refer to clients survive the table rebuild; the schema then equals the
    models; down and up again gives the same keys."""
    await asyncio.to_thread(upgrade, empty_url, BEFORE_ALIAS_KEY)
    await _seed_before_alias_key(empty_url)
    with caplog.at_level(logging.WARNING, logger="storage.migrations"):
        await asyncio.to_thread(upgrade, empty_url)
    assert await _schema_diff(empty_url) == []

    keys = dict(await _select(empty_url, "SELECT id, alias_key FROM client"))
    assert {i: keys[i] for i in RACED} == EXPECTED_KEYS
    assert keys[100 + MANY] == "c7~" + str(100 + MANY)
    assert keys[100 + MANY + 1] == "c1100~" + str(100 + MANY + 1)
    assert all(keys[100 + n] == f"c{n}" for n in range(MANY))
    for client_id, alias in await _select(empty_url, "SELECT id, alias FROM client"):
        if "~" not in keys[client_id]:
            assert keys[client_id] == alias_key(alias)  # the code's own comparison form

    warnings = [r.getMessage() for r in caplog.records if r.name == "storage.migrations"]
    assert len(warnings) == 6, warnings  # five collisions and the count
    for client_id in (2, 4, 6, 100 + MANY, 100 + MANY + 1):
        assert any(f"client {client_id} " in w for w in warnings), client_id
    aliases = {a.casefold() for _, a in RACED.values()} | {"c7", "c1100", "jos"}
    assert not [w for w in warnings if any(a in w.casefold() for a in aliases)], warnings

    assert sorted(await _select(empty_url, "SELECT id, client_id FROM therapy_session")) == [
        (1, 4),
        (2, 7),
    ]

    await asyncio.to_thread(downgrade, empty_url, BEFORE_ALIAS_KEY)
    assert await _select(empty_url, "SELECT count(*) FROM client") == [(len(RACED) + MANY + 2,)]
    await asyncio.to_thread(upgrade, empty_url)
    assert dict(await _select(empty_url, "SELECT id, alias_key FROM client")) == keys
    assert await _schema_diff(empty_url) == []


async def test_a_sqlite_migration_leaving_a_dangling_reference_is_rolled_back(
    tmp_path: Path,
) -> None:
    """SQLite migrations run without foreign key enforcement (a table rebuild drops the
    table others refer to), so every reference is checked before the commit: a session
    pointing at no client makes the upgrade fail and leaves the database as it was."""
    path = tmp_path / "dangling.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url, BEFORE_ALIAS_KEY)
    await _seed_before_alias_key(url)
    raw = sqlite3.connect(path)  # foreign keys are off unless switched on
    raw.execute("UPDATE therapy_session SET client_id = 999999 WHERE id = 1")
    raw.commit()
    raw.close()
    with pytest.raises(RuntimeError, match="dangling references"):
        await asyncio.to_thread(upgrade, url)
    assert await current_revision(url) == BEFORE_ALIAS_KEY
    columns = await _select(url, "SELECT name FROM pragma_table_info('client')")
    assert ("alias_key",) not in columns
