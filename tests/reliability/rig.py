"""Helpers for the reliability tests: services on a fresh database, the stand-in, a paced bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram.ext import ExtBot

from bot.clock import ManualClock
from bot.offline.standin import BotAPIStandIn, FakeUser
from bot.sending.flood import FloodControl
from bot.sending.outbox import Outgoing, enqueue
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher
from storage.db import Database

START = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)


@dataclass
class Rig:
    """What an outbox test needs: services, the stand-in and a bot with flood control."""

    services: Services
    standin: BotAPIStandIn
    bot: Any
    clock: ManualClock

    def user(self, user_id: int) -> int:
        """A person who has started the bot (so messages to them can be delivered)."""
        self.standin.register_user(FakeUser(id=user_id, first_name=f"P{user_id}"))
        return user_id

    async def queue(
        self, chat_id: int, text: str, *, kind: str = "notice", key: str = "", **ids: Any
    ) -> None:
        """Put one message in the outbox."""
        async with self.services.db.session() as session:
            await enqueue(
                session,
                self.services.cipher,
                kind=kind,
                dedupe_key=key or f"test:{chat_id}:{text}",
                message=Outgoing(chat_id, text),
                now=self.clock.now(),
                **ids,
            )

    def texts_to(self, chat_id: int) -> list[str]:
        """What the person received, oldest first."""
        return [m.text or "" for m in self.standin.sent_to(chat_id)]


def rig_services(database_url: str, clock: ManualClock, key: str, **settings: Any) -> Services:
    """Services on the given database (one per simulated process)."""
    values: dict[str, Any] = {"database_url": database_url, "encryption_keys": key}
    values.update(settings)
    loaded = load_settings(**values)
    return Services(
        settings=loaded,
        db=Database(database_url),
        clock=clock,
        cipher=Cipher.from_setting(key),
    )


async def paced_bot(standin: BotAPIStandIn, **limits: Any) -> Any:
    """A python-telegram-bot ExtBot talking to the stand-in through our flood control."""
    limiter = FloodControl(**({"global_rate": 1000.0, "per_chat_rate": 1000.0} | limits))
    bot: Any = ExtBot(standin.token, base_url=standin.base_url, rate_limiter=limiter)
    await bot.initialize()
    return bot
