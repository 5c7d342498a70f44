"""Shared parts of the benchmarks: a stand-in in its own process, fresh databases, seeding.

Benchmarks print figures; they are not tests. Everything runs on loopback: the Bot API
stand-in (bot.offline.standin) in a separate process so it does not share the bot's CPU core,
SQLite in a temporary folder or PostgreSQL at ALLIANCE_TEST_POSTGRES.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.practice.enrolment import PRIVACY_NOTICE_VERSION  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import CheckIn, Client, Therapist, TherapySession  # noqa: E402

POSTGRES_ADMIN = os.environ.get(
    "ALLIANCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
TOKEN = "123456789:AA-local-bench-stand-in-not-real"
FIRST_CHAT = 800_000_000


def machine() -> str:
    """One line naming the machine the figures come from."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# ------------------------------------------------------------------ the stand-in process


def _serve_standin(port: int, users: int, limits: dict[str, Any], ready: Any) -> None:
    from bot.offline.standin import BotAPIStandIn, FakeUser

    async def main() -> None:
        standin = BotAPIStandIn(token=TOKEN, port=port, **limits)
        for n in range(users):
            standin.register_user(FakeUser(id=FIRST_CHAT + n, first_name=f"Client{n}"))
        async with standin:
            ready.set()
            await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class StandinProcess:
    """A stand-in serving on a port in its own process."""

    port: int
    process: BaseProcess

    @property
    def base_url(self) -> str:
        """python-telegram-bot's base_url for it."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def stats(self) -> dict[str, Any]:
        """The stand-in's counters (calls per method, 429s sent...)."""
        url = f"http://127.0.0.1:{self.port}/control/stats"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return dict((await response.json())["result"])


def free_port() -> int:
    """A TCP port free right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def standin_process(users: int, **limits: Any) -> Iterator[StandinProcess]:
    """Start a stand-in that already knows ``users`` private chats; stop it afterwards."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    port = free_port()
    process = context.Process(target=_serve_standin, args=(port, users, limits, ready), daemon=True)
    process.start()
    if not ready.wait(120):
        process.kill()
        raise RuntimeError("the stand-in did not start")
    try:
        yield StandinProcess(port, process)
    finally:
        process.kill()
        process.join(10)


# ------------------------------------------------------------------ databases


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """A migrated, empty database (SQLite file or a new PostgreSQL database)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await asyncio.to_thread(upgrade, url)
            yield url
        return
    name = f"alliance_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def insert_rows(
    db: Database, model: Any, rows: list[dict[str, Any]], chunk: int = 5000
) -> None:
    """Bulk insert (executemany) in chunks."""
    for start in range(0, len(rows), chunk):
        async with db.session() as session:
            await session.exec(insert(model), params=rows[start : start + chunk])


@dataclass
class Seeded:
    """What seed_practice wrote."""

    therapist_ids: list[int]
    client_ids: list[int]
    chats: list[int]


async def seed_practice(
    db: Database,
    *,
    therapists: int,
    clients_per_therapist: int,
    now: datetime,
    due_checkins: bool,
    instrument_id: str = "alliance-default",
    items: str = "bond,goals,tasks,openness,tension,talked_through,comment",
    client_count: int | None = None,
) -> Seeded:
    """Therapists and active clients (consented, chats known to the stand-in); optionally
    one session per client that has just ended, with its check-in due now. ``client_count``,
    when given, caps the clients in all (the last therapist gets what is left)."""
    long_ago = now - timedelta(days=400)
    await insert_rows(
        db,
        Therapist,
        [
            {
                "telegram_user_id": 700_000_000 + t,
                "chat_id": 700_000_000 + t,
                "name": f"Dr. Invented {t}",
                "timezone": "UTC",
                "digest_weekday": (now.weekday() + 3) % 7,
                "digest_time": "08:00",
                "created_at": long_ago,
                "locale": "en",
            }
            for t in range(therapists)
        ],
    )
    async with db.session() as session:
        therapist_ids = [t.id for t in (await session.exec(__select(Therapist))).all()]
    client_rows: list[dict[str, Any]] = []
    chat = FIRST_CHAT
    for therapist_id in therapist_ids:
        for c in range(clients_per_therapist):
            if client_count is not None and len(client_rows) >= client_count:
                break
            client_rows.append(
                {
                    "therapist_id": therapist_id,
                    "alias": f"c{c}",
                    "telegram_user_id": chat,
                    "chat_id": chat,
                    "status": "active",
                    "timezone": "UTC",
                    "locale": "en",
                    "consent_at": long_ago,
                    "consent_version": PRIVACY_NOTICE_VERSION,
                    "created_at": long_ago,
                }
            )
            chat += 1
    await insert_rows(db, Client, client_rows)
    async with db.session() as session:
        clients = list((await session.exec(__select(Client).order_by(Client.id))).all())
    if due_checkins:
        await insert_rows(
            db,
            TherapySession,
            [
                {
                    "client_id": c.id,
                    "ended_at": now - timedelta(minutes=61),
                    "source": "manual",
                    "created_at": now,
                }
                for c in clients
            ],
        )
        async with db.session() as session:
            sessions = (await session.exec(__select(TherapySession))).all()
        await insert_rows(
            db,
            CheckIn,
            [
                {
                    "client_id": s.client_id,
                    "session_id": s.id,
                    "instrument_id": instrument_id,
                    "sequence": 1,
                    "items": items,
                    "status": "scheduled",
                    "due_at": now - timedelta(minutes=1),
                }
                for s in sessions
            ],
        )
    return Seeded(therapist_ids, [c.id or 0 for c in clients], [c.chat_id or 0 for c in clients])


def __select(model: Any) -> Any:
    from sqlmodel import select

    return select(model)


def now_outside_quiet_hours() -> dict[str, str]:
    """Quiet-hour settings that keep the present moment outside them (UTC clients)."""
    hour = (datetime.now(UTC).hour + 12) % 24
    return {"quiet_hours_start": f"{hour:02d}:00", "quiet_hours_end": f"{(hour + 1) % 24:02d}:00"}


class Stopwatch:
    """Wall-clock seconds since creation (or the last ``restart``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        """Elapsed seconds."""
        return time.perf_counter() - self.start
