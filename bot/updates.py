"""Handling many people's updates at once, each person's strictly in order.

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
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


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
