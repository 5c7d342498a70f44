"""Running the bot as a service: start-up, the outbox sender, signals, graceful shutdown, logs.

``alliance-checkin run`` ends here. On SIGTERM or SIGINT the bot stops taking updates,
lets the updates and the dispatcher pass in flight finish, lets the outbox finish the
sends already on the wire (recording their outcome) and puts messages it had claimed
but not sent back in the queue for the next worker — then closes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from bot.inbox import UpdateInbox
from bot.services import Services

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]

# Loggers of libraries that print request parameters or whole updates (message text,
# the token in URLs) at DEBUG: never below INFO, whatever LOG_LEVEL says. The database
# drivers are among them: aiosqlite logs every call with its arguments (each SQL
# parameter: aliases, names, answers), bypassing SQLAlchemy's hide_parameters.
CHATTY_LOGGERS = (
    "telegram",
    "httpx",
    "httpcore",
    "apscheduler",
    "aiohttp.access",
    "hpack",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (already content-free)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the frames only: exception messages may quote data.
            entry["error"] = record.exc_info[0].__name__
            entry["trace"] = self.formatStack(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def apply_log_format(settings: Any) -> None:
    """JSON lines when LOG_FORMAT=json; keep chatty libraries at INFO or above."""
    if getattr(settings, "log_format", "text") == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    level = logging.getLevelName(getattr(settings, "log_level", "INFO"))
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if isinstance(level, int) and level < logging.INFO:
            logger.setLevel(logging.INFO)
    # httpx logs every request URL at INFO, and a Bot API URL contains the token;
    # APScheduler logs every run of the dispatcher job (every few seconds) at INFO.
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def serve(services: Services, *, token: str, webhook: bool = False) -> None:
    """Run until SIGTERM/SIGINT: updates (polling or webhook), dispatcher job, outbox sender."""
    from bot import webhook as http
    from bot.app import build_application
    from bot.checkins.lifecycle import sender_of

    settings = services.settings
    stop = asyncio.Event()
    _install_signals(stop)
    # Polling goes through the inbox (bot.inbox), not python-telegram-bot's Updater,
    # which confirms updates to Telegram before they are handled.
    application = build_application(
        services, token=token, base_url=settings.telegram_api_base_url, updater=False
    )
    # The one built with the application (bot.app): the alert path delivers through it too.
    sender = sender_of(services, application.bot)
    runner = None
    inbox: UpdateInbox | None = None
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        if webhook:
            url, secret = settings.require_webhook()
            app = http.make_app(
                services, application=application, path=http.webhook_path(url), secret=secret
            )
            runner = await http.start_server(app, settings.webhook_listen, settings.webhook_port)
            # Every worker says the same, so whichever starts last changes nothing.
            await application.bot.set_webhook(
                url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )
        else:
            if settings.metrics_port is not None:
                runner = await http.start_server(
                    http.make_app(services), settings.metrics_listen, settings.metrics_port
                )
        await application.start()
        if not webhook:
            inbox = UpdateInbox(application, services, allowed_updates=ALLOWED_UPDATES)
            await inbox.start()
        sending = asyncio.create_task(sender.run(), name="outbox-sender")
        log.info(
            "bot running (%s, worker %s)", "webhook" if webhook else "polling", services.worker_id
        )
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_wait, sending}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping: finishing work in flight, returning claimed messages to the queue")
        if inbox is not None:
            # Stops fetching; lets the updates in hand finish and records them.
            await inbox.stop()
            inbox = None
        if runner is not None:
            # Stops accepting connections; webhook requests in flight finish first.
            await runner.cleanup()
            runner = None
        await sender.stop()
        await sending
        stop_wait.cancel()
        if application.running:
            # Waits for updates being handled and for a dispatcher pass under way.
            await application.stop()
    finally:
        if inbox is not None:
            with contextlib.suppress(Exception):
                await inbox.stop()
        if runner is not None:
            await runner.cleanup()
        await application.shutdown()
        await services.db.dispose()
        log.info("bot stopped")


def run(services: Services, *, token: str, webhook: bool = False) -> int:
    """Blocking entry point for the CLI."""
    try:
        asyncio.run(serve(services, token=token, webhook=webhook))
    except KeyboardInterrupt:
        return 130
    return 0
