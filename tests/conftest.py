"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL.

Every database-backed test runs on both engines. PostgreSQL is expected at
ALLIANCE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test); when it
cannot be reached the PostgreSQL cases are skipped locally but fail under CI=true,
so CI can never pass without them.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from story import FAST_PACE

from bot.offline.testbed import Testbed, running_testbed
from storage.migrate import upgrade

T = TypeVar("T")

POSTGRES_ADMIN = os.environ.get(
    "ALLIANCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = [b for b in os.environ.get("ALLIANCE_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


def _pg_url(name: str) -> str:
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


async def _pg_exec(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _in_thread(function: Callable[..., T], *args: object) -> T:
    """Run blocking setup (asyncio.run, Alembic) outside the test's running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated PostgreSQL database used as the template for each test's database."""
    name = f"alliance_tpl_{uuid.uuid4().hex[:10]}"
    try:
        _in_thread(asyncio.run, _pg_exec(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but unreachable: {exc}")
        yield None
        return
    _in_thread(upgrade, _pg_url(name))
    yield name
    _in_thread(asyncio.run, _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A freshly migrated, empty database on the engine named by the parameter."""
    if request.param == "sqlite":
        path = tmp_path / "alliance.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    if template is None:
        pytest.skip("PostgreSQL not reachable (set ALLIANCE_TEST_POSTGRES)")
    name = f"alliance_t_{uuid.uuid4().hex[:12]}"
    await _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        await _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what is loaded by now (the bot, its libraries, the collected tests) out of the
    garbage collector's full passes: they live to the end anyway. Full passes took about a
    tenth of the end-to-end tests' CPU time, a third of it walking these objects again."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (./scripts/test runs with --dist loadgroup), tests that start real
    bot processes run one after another on one worker, so two sets of processes never
    compete for the machine's cores while their timeouts run."""
    for item in items:
        if item.get_closest_marker("workers") is not None:
            item.add_marker(pytest.mark.xdist_group("processes"))


# A Tuesday morning in June (no DST change nearby): 09:00 in Berlin.
TESTBED_START = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def testbed_options() -> dict[str, Any]:
    """Options for the testbed: the fast pace (story.FAST_PACE, which says why); a module
    that checks Telegram's real pace overrides this fixture (tests/e2e/test_core_loop.py)."""
    # The conversation loop's client item is asked after a suggested conversation only:
    # its seeded occasional asking (CONVERSATION_ITEM_ONE_IN) would put an extra question
    # into stories that tap a fixed sequence (tests/e2e/test_loop_stories.py tests it).
    return FAST_PACE | {"conversation_item_one_in": 0}


@pytest.fixture
async def bed(database_url: str, testbed_options: dict[str, Any]) -> AsyncIterator[Testbed]:
    """A started testbed; the stand-in must end the test without internal errors."""
    async with running_testbed(database_url, TESTBED_START, **testbed_options) as testbed:
        yield testbed
