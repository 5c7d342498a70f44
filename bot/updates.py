"""Taking each update once, and handling many people's updates at once, each in order.

Each update is taken by one worker and marked finished when every handler has run
(:func:`drop_duplicates`, :func:`finish_update`): a copy Telegram sends again, or one
another worker already holds, has no second effect, and the ids are forgotten after a
week (:func:`prune_processed_updates`).

python-telegram-bot handles updates one at a time by default: while one answer waits
for the database or for Telegram, every other person's tap waits behind it. The bot
is mostly waiting (on SQLite's writer lock, on PostgreSQL, on the Bot API), so
handling several people's updates side by side multiplies throughput. One person's
updates must still run in the order they were sent — two quick taps are the first
question's answer and then the second's — so each person has a lock, taken in arrival
order (asyncio locks are fair) and dropped when nobody waits on it. A slot is taken
only by the update at the head of a person's line, so a person sending very many
updates at once holds one slot and everyone else keeps the rest.

This is python-telegram-bot's documented extension point for concurrent handling
(``ApplicationBuilder.concurrent_updates`` with a ``BaseUpdateProcessor``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy import update as update_statement
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseUpdateProcessor

from bot import callbacks
from bot.inbox import BOT_DATA_KEY, UpdateInbox
from bot.services import BotContext, Services
from storage.models import ProcessedUpdate

log = logging.getLogger(__name__)

# Telegram re-sends an update for at most a day; a week of ids is plenty.
PROCESSED_UPDATE_RETENTION = timedelta(days=7)
# An update taken this long ago and never finished belongs to a worker that stopped
# mid-update (handlers take seconds). A copy arriving sooner is still ignored.
UPDATE_CLAIM = timedelta(seconds=120)


def answers_itself(update: Update) -> bool:
    """Whether the update is a check-in answer, which needs no duplicate guard.

    An answer is checked against what is stored: the same tap handled twice finds its
    question answered and only brings the message up to date. Leaving the guard out
    saves two database round trips on the bot's busiest path.
    """
    query = update.callback_query
    return query is not None and isinstance(callbacks.parse(query.data), callbacks.AnswerPress)


async def drop_duplicates(update: Update, context: BotContext) -> None:
    """Take the update for this worker, or give a redelivered one no second effect.

    The update id is written when a worker takes it and marked finished once every
    handler has run (:func:`finish_update`, the last group). A second copy is ignored
    while the first is finished or still being handled (on this worker or another);
    a copy of an update taken more than ``UPDATE_CLAIM`` ago and never finished —
    its worker died mid-update — is taken over and handled again. The handlers check
    the stored state, so what was done before the crash is not done twice.
    """
    if answers_itself(update):
        return
    services = context.services
    now = services.clock.now()
    try:
        async with services.db.session() as session:
            session.add(ProcessedUpdate(update_id=update.update_id, processed_at=now))
        return
    except IntegrityError:
        pass
    # An update the polling inbox kept through a crash was taken by the process that
    # stopped: take it over at once rather than after UPDATE_CLAIM (bot.inbox).
    claim_cutoff = now if _left_by_a_stopped_poller(update, context) else now - UPDATE_CLAIM
    async with services.db.session() as session:
        taken_over = await session.exec(
            update_statement(ProcessedUpdate)
            .where(col(ProcessedUpdate.update_id) == update.update_id)
            .where(col(ProcessedUpdate.finished_at).is_(None))
            .where(col(ProcessedUpdate.processed_at) <= claim_cutoff)
            .values(processed_at=now)
        )
    if taken_over.rowcount == 1:
        log.warning("update %s left unfinished by a stopped worker; taken over", update.update_id)
        return
    log.info("update %s already handled or being handled; ignored", update.update_id)
    raise ApplicationHandlerStop


def _left_by_a_stopped_poller(update: Update, context: BotContext) -> bool:
    """Whether the polling inbox replays this update after its process stopped."""
    inbox = context.bot_data.get(BOT_DATA_KEY)
    return isinstance(inbox, UpdateInbox) and inbox.replayed(update.update_id)


async def finish_update(update: Update, context: BotContext) -> None:
    """Mark the update finished (runs after every other handler)."""
    if answers_itself(update):
        return
    services = context.services
    async with services.db.session() as session:
        await session.exec(
            update_statement(ProcessedUpdate)
            .where(col(ProcessedUpdate.update_id) == update.update_id)
            .values(finished_at=services.clock.now())
        )


async def prune_processed_updates(services: Services) -> None:
    """Forget update ids older than Telegram could ever resend."""
    cutoff = services.clock.now() - PROCESSED_UPDATE_RETENTION
    async with services.db.session() as session:
        await session.exec(
            delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < cutoff)
        )


def person_of(update: object) -> int | None:
    """Whose update this is: the sender, else the chat; None if neither is known."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


# python-telegram-bot takes its own concurrency slot before do_process_update runs; a
# person's later updates would hold those slots while they wait for their earlier one.
# Its bound is therefore set out of the way and the real one taken here, after the
# person's lock, so that one person's backlog holds at most one slot.
_OUT_OF_THE_WAY = 1 << 30


class PerPersonUpdateProcessor(BaseUpdateProcessor):
    """Up to ``limit`` updates at once; one person's one after another."""

    def __init__(self, limit: int) -> None:
        super().__init__(_OUT_OF_THE_WAY)
        self.limit = limit
        self._slots = asyncio.BoundedSemaphore(limit)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle the update once this person's earlier updates are done and a slot is free.

        Updates reach this method in arrival order (python-telegram-bot starts one task
        per update in order and its own bound is never reached); the person's lock keeps
        that order among their own updates, and only the update at the head of a
        person's line waits for one of the ``limit`` slots.
        """
        person = person_of(update)
        if person is None:
            async with self._slots:
                await coroutine
            return
        lock = self._locks.setdefault(person, asyncio.Lock())
        self._waiting[person] = self._waiting.get(person, 0) + 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self._waiting[person] -= 1
            if not self._waiting[person]:
                # Nobody else holds or waits for it: forget it, so memory stays flat.
                del self._waiting[person]
                del self._locks[person]

    @property
    def people_in_flight(self) -> int:
        """How many people have an update being handled or waiting (for metrics and tests)."""
        return len(self._locks)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down: the Application waits for updates in flight itself."""
