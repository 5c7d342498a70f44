"""Real bot processes for the multi-process tests: seeding, environment, start, stop, logs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.checkins.conversation import create_for_session
from bot.clock import ManualClock
from bot.offline.standin import BotAPIStandIn, FakeUser
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher
from storage.db import Database
from storage.models import Client, OutboxMessage, Therapist, TherapySession, alias_key
from storage.states import ClientState

ROOT = Path(__file__).resolve().parents[2]


def quiet_hours_away_from_now() -> dict[str, str]:
    """Quiet hours placed half a day from now, so real-time tests never fall into them."""
    hour = (datetime.now(UTC).hour + 12) % 24
    return {"QUIET_HOURS_START": f"{hour:02d}:00", "QUIET_HOURS_END": f"{(hour + 1) % 24:02d}:00"}


@dataclass
class Practice:
    """One therapist with clients whose sessions have just ended (check-ins due now)."""

    therapist_chat: int
    client_chats: list[int] = field(default_factory=list)


async def seed(
    database_url: str, key: str, standin: BotAPIStandIn, clients: int, *, digest_due: bool
) -> Practice:
    """Write a therapist and clients straight into the database, as after enrolment."""
    now = datetime.now(UTC).replace(microsecond=0)
    settings = load_settings(
        database_url=database_url, encryption_keys=key, checkin_delay_minutes=0
    )
    db = Database(database_url)
    services = Services(
        settings=settings, db=db, clock=ManualClock(now), cipher=Cipher.from_setting(key)
    )
    base = 7_000_000 + (os.getpid() % 1000) * 1000
    practice = Practice(therapist_chat=base)
    standin.register_user(FakeUser(id=base, first_name="Therapist"))
    # The weekly digest slot a minute ago (if wanted), else three days away.
    slot = now - timedelta(minutes=1) if digest_due else now + timedelta(days=3)
    try:
        async with db.session() as session:
            therapist = Therapist(
                telegram_user_id=base,
                chat_id=base,
                name="Dr. Invented Example",
                digest_weekday=slot.weekday(),
                digest_time=slot.strftime("%H:%M"),
                created_at=now - timedelta(days=2),
            )
            session.add(therapist)
            await session.flush()
            for n in range(1, clients + 1):
                chat = base + n
                standin.register_user(FakeUser(id=chat, first_name=f"Client{n}"))
                client = Client(
                    therapist_id=therapist.id or 0,
                    alias=f"c{n}",
                    alias_key=alias_key(f"c{n}"),
                    telegram_user_id=chat,
                    chat_id=chat,
                    status=ClientState.ACTIVE,
                    consent_at=now - timedelta(days=1),
                    consent_version=PRIVACY_NOTICE_VERSION,
                    created_at=now - timedelta(days=1),
                )
                session.add(client)
                await session.flush()
                ended = TherapySession(
                    client_id=client.id or 0, ended_at=now, source="manual", created_at=now
                )
                session.add(ended)
                await session.flush()
                await create_for_session(session, services, client, ended)
                practice.client_chats.append(chat)
    finally:
        await db.dispose()
    return practice


def worker_env(
    standin: BotAPIStandIn, database_url: str, key: str, **settings: Any
) -> dict[str, str]:
    """The environment of a bot process: the stand-in, the database, fast scheduling."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WEBHOOK_"))}
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": standin.token,
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "DATABASE_URL": database_url,
            "ENCRYPTION_KEYS": key,
            "CHECKIN_DELAY_MINUTES": "0",
            "DISPATCH_INTERVAL_SECONDS": "0.3",
            "REMINDER_AFTER_HOURS": "100",
            "EXPIRE_AFTER_HOURS": "200",
            "SEND_LEASE_SECONDS": "3",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(quiet_hours_away_from_now())
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


@dataclass
class Worker:
    """A running `python -m bot run` process and its log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything it has logged so far."""
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        """kill -9: no cleanup at all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    async def terminate(self, within: float = 60) -> int:
        """SIGTERM and wait for the graceful exit; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, within)

    def stop(self) -> None:
        """Make sure it is gone (test teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def start_worker(env: dict[str, str], log_path: Path, *args: str) -> Worker:
    """Start `python -m bot run [args]` in the repository, logging to a file."""
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    handle.close()
    return Worker(process, log_path)


async def outbox_rows(database_url: str) -> list[OutboxMessage]:
    """Every outbox row, read from a fresh connection."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list(
                (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
            )
    finally:
        await db.dispose()


async def eventually(check: Any, within: float, what: str) -> None:
    """Poll an async condition (other processes do the work; there is nothing to await)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.2)
