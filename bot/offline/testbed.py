"""A real bot wired to the local Bot API stand-in, with a manual clock.

Used by the end-to-end tests, the benchmarks and the offline demo: the same
Application, handlers, dispatcher, database and templates as production; only
Telegram's servers are replaced (at the HTTP boundary) and time moves when told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import DISPATCH_JOB, AppType, build_application
from bot.clock import ManualClock
from bot.due_work import DispatchReport, run_due_work
from bot.inbox import UpdateInbox
from bot.offline.standin import BotAPIStandIn
from bot.services import Services
from bot.settings import Settings, load_settings
from storage.crypto import Cipher, generate_key
from storage.db import Database

log = logging.getLogger(__name__)


class TrackingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that reports when it has finished processing each update.

    Subclassing Application is python-telegram-bot's documented extension point
    (ApplicationBuilder.application_class); it lets a test await the bot's full
    reaction to an injected update instead of sleeping.
    """

    on_processed: Callable[[int], None] | None = None

    async def process_update(self, update: object) -> None:
        """Process as usual, then report the update id."""
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update) and self.on_processed is not None:
                self.on_processed(update.update_id)


class Testbed:
    """Stand-in + database + Application, started and stopped together."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        database_url: str,
        *,
        start: datetime,
        standin: BotAPIStandIn | None = None,
        encryption_keys: str | None = None,
        inbox: bool = False,
        **settings: Any,
    ) -> None:
        self.database_url = database_url
        # Poll through the update inbox, as `alliance-checkin run` does (bot.inbox),
        # instead of python-telegram-bot's Updater.
        self.use_inbox = inbox
        self.inbox: UpdateInbox | None = None
        self.clock = ManualClock(start)
        self.standin = standin or BotAPIStandIn()
        self._own_standin = standin is None
        self.encryption_keys = encryption_keys or generate_key()
        self.setting_overrides = settings
        self.app: AppType | None = None
        self._services: Services | None = None
        self.db: Database | None = None
        self.processed: set[int] = set()
        self._progress = asyncio.Condition()

    @property
    def services(self) -> Services:
        """The running bot's services (settings, database, clock, cipher, texts)."""
        if self._services is None:
            raise RuntimeError("the testbed is not started: no services yet")
        return self._services

    def settings(self) -> Settings:
        """Settings as the bot sees them (environment-independent where it matters)."""
        values: dict[str, Any] = {
            "telegram_bot_token": self.standin.token,
            "telegram_api_base_url": self.standin.base_url,
            "database_url": self.database_url,
            "encryption_keys": self.encryption_keys,
            # The dispatcher is driven by tick(); the real job stays registered but idle.
            "dispatch_interval_seconds": 3600,
        }
        values.update(self.setting_overrides)
        return load_settings(**values)

    async def start(self) -> Testbed:
        """Start the stand-in (if ours) and the bot, polling the stand-in."""
        if self._own_standin:
            await self.standin.start()
        await self._start_bot()
        return self

    async def _start_bot(self) -> None:
        settings = self.settings()
        self.db = Database(self.database_url)
        self._services = Services(
            settings=settings,
            db=self.db,
            clock=self.clock,
            cipher=Cipher.from_setting(settings.require_encryption_keys()),
        )
        self.app = build_application(
            self.services,
            token=settings.require_token(),
            base_url=settings.telegram_api_base_url,
            application_class=TrackingApplication,
            updater=not self.use_inbox,
        )
        assert isinstance(self.app, TrackingApplication)
        self.app.on_processed = self._note_processed
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        # The real dispatcher job stays registered (tests run it with job.run) but paused:
        # its first run comes one real second after start and would race tick().
        assert self.app.job_queue is not None
        for job in self.app.job_queue.get_jobs_by_name(DISPATCH_JOB):
            job.enabled = False
        if self.use_inbox:
            self.inbox = UpdateInbox(
                self.app, self.services, allowed_updates=Update.ALL_TYPES, poll_timeout=5
            )
            await self.inbox.start()
            return
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0.0, timeout=5, allowed_updates=Update.ALL_TYPES
        )

    async def stop(self, *, keep_standin: bool = False) -> None:
        """Stop polling and the application; close the database."""
        if self.inbox is not None:
            await self.inbox.stop()
            self.inbox = None
        if self.app is not None:
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            await self.app.shutdown()
            self.app = None
        if self.db is not None:
            await self.db.dispose()
            self.db = None
        if self._own_standin and not keep_standin:
            await self.standin.stop()

    async def restart(self) -> None:
        """Stop the bot and start a fresh process-equivalent against the same database."""
        await self.stop(keep_standin=True)
        await self._start_bot()

    def _note_processed(self, update_id: int) -> None:
        self.processed.add(update_id)
        loop = asyncio.get_running_loop()
        loop.create_task(self._notify())

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def settled(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has completely handled an injected update."""

        async def _wait() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: update_id in self.processed)

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not finish update {update_id} in {timeout}s"
            ) from None

    async def tick(self) -> DispatchReport:
        """One dispatcher pass at the current simulated time."""
        assert self.app is not None
        return await run_due_work(self.services, self.app.bot)

    async def advance(self, **delta: float) -> DispatchReport:
        """Move the clock forward, then run the dispatcher once."""
        self.clock.advance(timedelta(**delta))
        return await self.tick()

    async def __aenter__(self) -> Testbed:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@asynccontextmanager
async def running_testbed(
    database_url: str, start: datetime, **settings: Any
) -> AsyncIterator[Testbed]:
    """A started testbed, stopped afterwards; the stand-in must end without internal errors."""
    bed = Testbed(database_url, start=start, **settings)
    await bed.start()
    try:
        yield bed
    finally:
        errors = bed.standin.internal_errors
        await bed.stop()
        assert not errors, errors
